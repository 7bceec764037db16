-- SPDX-License-Identifier: BSD-3-Clause
-- vfio-user dissector for Wireshark and tshark: reads the pcap files that
-- `uvfio trace --write` makes (link type DLT_USER0, 147): an 8-byte
-- pseudo-header (version 1, direction, channel, flags, descriptor count,
-- its own length), then one whole vfio-user message in host (little-endian)
-- byte order. Filter with vfio_user.cmd == 9, vfio_user.region == 2,
-- vfio_user.errno, vfio_user.dma.addr, vfio_user.irq.index, ...
-- Installed by `make install` into Wireshark's global Lua plugin directory
-- (see docs/uvfio.1), or loaded by hand: tshark -X lua_script:vfio-user.lua.

local p = Proto("vfio_user", "vfio-user")

local cmds = {
	[1] = "VERSION", [2] = "DMA_MAP", [3] = "DMA_UNMAP", [4] = "DEVICE_GET_INFO",
	[5] = "DEVICE_GET_REGION_INFO", [6] = "DEVICE_GET_REGION_IO_FDS",
	[7] = "DEVICE_GET_IRQ_INFO", [8] = "DEVICE_SET_IRQS", [9] = "REGION_READ",
	[10] = "REGION_WRITE", [11] = "DMA_READ", [12] = "DMA_WRITE", [13] = "DEVICE_RESET",
	[15] = "REGION_WRITE_MULTI", [16] = "DEVICE_FEATURE", [17] = "MIG_DATA_READ",
	[18] = "MIG_DATA_WRITE",
}
local regions = { [0] = "BAR0", "BAR1", "BAR2", "BAR3", "BAR4", "BAR5", "ROM", "CONFIG", "VGA" }
local irqs = { [0] = "INTX", "MSI", "MSIX", "ERR", "REQ" }
local features = { [1] = "MIGRATION", [2] = "MIG_DEVICE_STATE", [6] = "DMA_LOGGING_START",
	[7] = "DMA_LOGGING_STOP", [8] = "DMA_LOGGING_REPORT" }
local states = { [0] = "ERROR", "STOP", "RUNNING", "STOP_COPY", "RESUMING", "RUNNING_P2P",
	"PRE_COPY", "PRE_COPY_P2P" }
local errnos = { [1] = "EPERM", [2] = "ENOENT", [5] = "EIO", [9] = "EBADF", [11] = "EAGAIN",
	[12] = "ENOMEM", [13] = "EACCES", [14] = "EFAULT", [16] = "EBUSY", [17] = "EEXIST",
	[19] = "ENODEV", [22] = "EINVAL", [24] = "EMFILE", [27] = "EFBIG", [28] = "ENOSPC",
	[34] = "ERANGE", [38] = "ENOSYS", [71] = "EPROTO", [74] = "EBADMSG", [75] = "EOVERFLOW",
	[90] = "EMSGSIZE", [95] = "EOPNOTSUPP", [104] = "ECONNRESET", [110] = "ETIMEDOUT",
	[125] = "ECANCELED" }
local types = { [0] = "command", [1] = "reply" }

local f = {
	dir = ProtoField.uint8("vfio_user.dir", "Direction", base.DEC,
		{ [0] = "client to server", [1] = "server to client" }),
	channel = ProtoField.uint8("vfio_user.channel", "Channel", base.DEC,
		{ [0] = "main socket", [1] = "twin socket" }),
	fds = ProtoField.uint16("vfio_user.fds", "Descriptors attached"),
	incomplete = ProtoField.bool("vfio_user.incomplete", "Cut off by the connection's end"),
	msg_id = ProtoField.uint16("vfio_user.msg_id", "Message ID"),
	cmd = ProtoField.uint16("vfio_user.cmd", "Command", base.DEC, cmds),
	size = ProtoField.uint32("vfio_user.size", "Message size"),
	flags = ProtoField.uint32("vfio_user.flags", "Flags", base.HEX),
	ftype = ProtoField.uint32("vfio_user.flags.type", "Type", base.DEC, types, 0xf),
	no_reply = ProtoField.bool("vfio_user.flags.no_reply", "No reply", 32, nil, 0x10),
	ferror = ProtoField.bool("vfio_user.flags.error", "Error", 32, nil, 0x20),
	errno = ProtoField.uint32("vfio_user.errno", "Error", base.DEC, errnos),
	request_in = ProtoField.framenum("vfio_user.request_in", "Request in frame",
		base.NONE, frametype.REQUEST),
	response_in = ProtoField.framenum("vfio_user.response_in", "Reply in frame",
		base.NONE, frametype.RESPONSE),
	time = ProtoField.relative_time("vfio_user.time", "Time since request"),
	major = ProtoField.uint16("vfio_user.version.major", "Major"),
	minor = ProtoField.uint16("vfio_user.version.minor", "Minor"),
	caps = ProtoField.string("vfio_user.version.caps", "Capabilities"),
	argsz = ProtoField.uint32("vfio_user.argsz", "argsz"),
	dma_flags = ProtoField.uint32("vfio_user.dma.flags", "DMA flags", base.HEX),
	dma_read = ProtoField.bool("vfio_user.dma.flags.read", "Readable", 32, nil, 1),
	dma_write = ProtoField.bool("vfio_user.dma.flags.write", "Writeable", 32, nil, 2),
	dma_offset = ProtoField.uint64("vfio_user.dma.offset", "File offset", base.HEX),
	dma_addr = ProtoField.uint64("vfio_user.dma.addr", "DMA address", base.HEX),
	dma_size = ProtoField.uint64("vfio_user.dma.size", "DMA size", base.HEX),
	dev_flags = ProtoField.uint32("vfio_user.device.flags", "Device flags", base.HEX),
	num_regions = ProtoField.uint32("vfio_user.device.num_regions", "Regions"),
	num_irqs = ProtoField.uint32("vfio_user.device.num_irqs", "Interrupt types"),
	region = ProtoField.uint32("vfio_user.region", "Region", base.DEC, regions),
	ri_flags = ProtoField.uint32("vfio_user.region_info.flags", "Region flags", base.HEX),
	ri_cap_offset = ProtoField.uint32("vfio_user.region_info.cap_offset", "Capabilities at",
		base.HEX),
	ri_size = ProtoField.uint64("vfio_user.region_info.size", "Region size", base.HEX),
	ri_offset = ProtoField.uint64("vfio_user.region_info.offset", "mmap offset", base.HEX),
	cap_id = ProtoField.uint16("vfio_user.cap.id", "Capability", base.DEC,
		{ [1] = "SPARSE_MMAP", [2] = "TYPE" }),
	cap_next = ProtoField.uint32("vfio_user.cap.next", "Next capability", base.HEX),
	nr_areas = ProtoField.uint32("vfio_user.sparse.nr_areas", "Sparse areas"),
	area_offset = ProtoField.uint64("vfio_user.sparse.offset", "Area offset", base.HEX),
	area_size = ProtoField.uint64("vfio_user.sparse.size", "Area size", base.HEX),
	cap_type = ProtoField.uint32("vfio_user.cap.type", "Region type"),
	cap_subtype = ProtoField.uint32("vfio_user.cap.subtype", "Region subtype"),
	io_flags = ProtoField.uint32("vfio_user.io_fds.flags", "I/O fd flags", base.HEX),
	io_count = ProtoField.uint32("vfio_user.io_fds.count", "Sub-regions"),
	sub_offset = ProtoField.uint64("vfio_user.io_fds.offset", "Sub-region offset", base.HEX),
	sub_size = ProtoField.uint64("vfio_user.io_fds.size", "Sub-region size", base.HEX),
	sub_fd = ProtoField.uint32("vfio_user.io_fds.fd_index", "Descriptor index"),
	sub_type = ProtoField.uint32("vfio_user.io_fds.type", "Type", base.DEC,
		{ [0] = "ioeventfd", [1] = "ioregionfd", [2] = "ioeventfd_shadow" }),
	sub_flags = ProtoField.uint32("vfio_user.io_fds.sub_flags", "Sub-region flags", base.HEX),
	sub_data = ProtoField.uint64("vfio_user.io_fds.datamatch", "datamatch / user_data",
		base.HEX),
	irq_index = ProtoField.uint32("vfio_user.irq.index", "IRQ index", base.DEC, irqs),
	irq_info_flags = ProtoField.uint32("vfio_user.irq.info_flags", "IRQ info flags", base.HEX),
	irq_flags = ProtoField.uint32("vfio_user.irq.flags", "SET_IRQS flags", base.HEX),
	irq_data = ProtoField.uint32("vfio_user.irq.data", "Data", base.DEC,
		{ [1] = "NONE", [2] = "BOOL", [4] = "EVENTFD" }, 0x7),
	irq_action = ProtoField.uint32("vfio_user.irq.action", "Action", base.DEC,
		{ [1] = "MASK", [2] = "UNMASK", [4] = "TRIGGER" }, 0x38),
	irq_start = ProtoField.uint32("vfio_user.irq.start", "Start"),
	irq_count = ProtoField.uint32("vfio_user.irq.count", "Count"),
	irq_bools = ProtoField.bytes("vfio_user.irq.bools", "Booleans"),
	offset = ProtoField.uint64("vfio_user.offset", "Offset", base.HEX),
	count = ProtoField.uint64("vfio_user.count", "Count"),
	data = ProtoField.bytes("vfio_user.data", "Data"),
	wr_cnt = ProtoField.uint64("vfio_user.wr_cnt", "Writes"),
	feat_flags = ProtoField.uint32("vfio_user.feature.flags", "Feature flags", base.HEX),
	feat_index = ProtoField.uint32("vfio_user.feature.index", "Feature", base.DEC, features,
		0xffff),
	feat_get = ProtoField.bool("vfio_user.feature.get", "GET", 32, nil, 0x10000),
	feat_set = ProtoField.bool("vfio_user.feature.set", "SET", 32, nil, 0x20000),
	feat_probe = ProtoField.bool("vfio_user.feature.probe", "PROBE", 32, nil, 0x40000),
	mig_flags = ProtoField.uint64("vfio_user.mig.flags", "Migration flags", base.HEX),
	mig_state = ProtoField.uint32("vfio_user.mig.device_state", "Device state", base.DEC,
		states),
	mig_size = ProtoField.uint32("vfio_user.mig.size", "Migration data size"),
	log_page = ProtoField.uint64("vfio_user.dma_log.page_size", "Page size", base.HEX),
	log_ranges = ProtoField.uint32("vfio_user.dma_log.num_ranges", "Ranges"),
	log_iova = ProtoField.uint64("vfio_user.dma_log.iova", "IOVA", base.HEX),
	log_length = ProtoField.uint64("vfio_user.dma_log.length", "Length", base.HEX),
	log_bitmap = ProtoField.bytes("vfio_user.dma_log.bitmap", "Dirty bitmap"),
}
p.fields = f

local e_qemu = ProtoExpert.new("vfio_user.qemu_dma_layout", "DMA data in QEMU's layout",
	expert.group.PROTOCOL, expert.severity.WARN)
local e_padded = ProtoExpert.new("vfio_user.padded_mig_reply",
	"MIG_DATA_READ reply padded beyond its size (libvfio-user)",
	expert.group.PROTOCOL, expert.severity.NOTE)
local e_unknown = ProtoExpert.new("vfio_user.unknown_id", "Reply to an id no request awaits",
	expert.group.SEQUENCE, expert.severity.WARN)
local e_short = ProtoExpert.new("vfio_user.short", "Message shorter than its command needs",
	expert.group.MALFORMED, expert.severity.ERROR)
p.experts = { e_qemu, e_padded, e_unknown, e_short }

-- Requests and replies, matched on the first pass: direction and id. The
-- DMA layout of each frame: QEMU's when the connection's client proposed
-- version 0.0 (docs/INTEROP.md).
local pending, req_of, rep_of, qemu_of, qemu_conn = {}, {}, {}, {}, false
function p.init()
	pending, req_of, rep_of, qemu_of, qemu_conn = {}, {}, {}, {}, false
end

local function u32(t, o) return t(o, 4):le_uint() end
local function u64(t, o) return t(o, 8):le_uint64() end
local function hex64(t, o) return "0x" .. u64(t, o):tohex():gsub("^0+(.)", "%1") end

-- Payload decoders: (tvb of the payload, tree, is_reply, pinfo, item) -> summary
local d = {}

d[1] = function(b, t, rep)
	if b:len() < 4 then return "" end
	t:add_le(f.major, b(0, 2))
	t:add_le(f.minor, b(2, 2))
	if b:len() > 4 then t:add(f.caps, b(4, b:len() - 4)) end
	return string.format("%d.%d", b(0, 2):le_uint(), b(2, 2):le_uint())
end

local function dma_range(b, t, at)
	t:add_le(f.dma_addr, b(at, 8))
	t:add_le(f.dma_size, b(at + 8, 8))
	return "addr=" .. hex64(b, at) .. " size=" .. hex64(b, at + 8)
end

d[2] = function(b, t, rep)
	if rep or b:len() < 32 then return "" end
	t:add_le(f.argsz, b(0, 4))
	local fl = t:add_le(f.dma_flags, b(4, 4))
	fl:add_le(f.dma_read, b(4, 4))
	fl:add_le(f.dma_write, b(4, 4))
	t:add_le(f.dma_offset, b(8, 8))
	return dma_range(b, t, 16)
end

d[3] = function(b, t, rep)
	if b:len() < 24 then return "" end
	t:add_le(f.argsz, b(0, 4))
	t:add_le(f.dma_flags, b(4, 4))
	return dma_range(b, t, 8)
end

d[4] = function(b, t, rep)
	if b:len() < 16 then return "" end
	t:add_le(f.argsz, b(0, 4))
	if not rep then return "" end
	t:add_le(f.dev_flags, b(4, 4))
	t:add_le(f.num_regions, b(8, 4))
	t:add_le(f.num_irqs, b(12, 4))
	return string.format("regions=%d irqs=%d", u32(b, 8), u32(b, 12))
end

d[5] = function(b, t, rep)
	if b:len() < 32 then return "" end
	t:add_le(f.argsz, b(0, 4))
	t:add_le(f.region, b(8, 4))
	if not rep then return "region=" .. u32(b, 8) end
	t:add_le(f.ri_flags, b(4, 4))
	t:add_le(f.ri_cap_offset, b(12, 4))
	t:add_le(f.ri_size, b(16, 8))
	t:add_le(f.ri_offset, b(24, 8))
	local off, hops = u32(b, 12), 0
	while off >= 32 and off + 8 <= b:len() and hops < 64 do
		local id, nxt = b(off, 2):le_uint(), u32(b, off + 4)
		local c = t:add_le(f.cap_id, b(off, 2))
		c:add_le(f.cap_next, b(off + 4, 4))
		if id == 1 and off + 16 <= b:len() then
			local n = u32(b, off + 8)
			c:add_le(f.nr_areas, b(off + 8, 4))
			for i = 0, n - 1 do
				local a = off + 16 + 16 * i
				if a + 16 > b:len() or i >= 64 then break end
				c:add_le(f.area_offset, b(a, 8))
				c:add_le(f.area_size, b(a + 8, 8))
			end
		elseif id == 2 and off + 16 <= b:len() then
			c:add_le(f.cap_type, b(off + 8, 4))
			c:add_le(f.cap_subtype, b(off + 12, 4))
		end
		if nxt <= off then break end
		off, hops = nxt, hops + 1
	end
	return "region=" .. u32(b, 8) .. " size=" .. hex64(b, 16)
end

d[6] = function(b, t, rep)
	if b:len() < 16 then return "" end
	t:add_le(f.argsz, b(0, 4))
	t:add_le(f.io_flags, b(4, 4))
	t:add_le(f.region, b(8, 4))
	t:add_le(f.io_count, b(12, 4))
	local n = u32(b, 12)
	if rep and n > 0 then
		local esz = math.max(40, math.floor((u32(b, 0) - 16) / n))
		for i = 0, math.min(n, 64) - 1 do
			local a = 16 + i * esz
			if a + 40 > b:len() then break end
			local s = t:add(b(a, 40), "Sub-region " .. i)
			s:add_le(f.sub_offset, b(a, 8))
			s:add_le(f.sub_size, b(a + 8, 8))
			s:add_le(f.sub_fd, b(a + 16, 4))
			s:add_le(f.sub_type, b(a + 20, 4))
			s:add_le(f.sub_flags, b(a + 24, 4))
			s:add_le(f.sub_data, b(a + 32, 8))
		end
	end
	return "region=" .. u32(b, 8) .. " count=" .. n
end

d[7] = function(b, t, rep)
	if b:len() < 16 then return "" end
	t:add_le(f.argsz, b(0, 4))
	t:add_le(f.irq_index, b(8, 4))
	if rep then
		t:add_le(f.irq_info_flags, b(4, 4))
		t:add_le(f.irq_count, b(12, 4))
		return string.format("index=%d count=%d", u32(b, 8), u32(b, 12))
	end
	return "index=" .. u32(b, 8)
end

d[8] = function(b, t, rep)
	if rep or b:len() < 20 then return "" end
	t:add_le(f.argsz, b(0, 4))
	local fl = t:add_le(f.irq_flags, b(4, 4))
	fl:add_le(f.irq_data, b(4, 4))
	fl:add_le(f.irq_action, b(4, 4))
	t:add_le(f.irq_index, b(8, 4))
	t:add_le(f.irq_start, b(12, 4))
	t:add_le(f.irq_count, b(16, 4))
	if b:len() > 20 then t:add(f.irq_bools, b(20, b:len() - 20)) end
	return string.format("index=%d start=%d count=%d", u32(b, 8), u32(b, 12), u32(b, 16))
end

local function region_access(b, t, rep, with_data)
	if b:len() < 16 then return "" end
	t:add_le(f.offset, b(0, 8))
	t:add_le(f.region, b(8, 4))
	t:add_le(f.count, b(12, 4))
	if with_data and b:len() > 16 then t:add(f.data, b(16, b:len() - 16)) end
	return string.format("region=%d offset=%s count=%d", u32(b, 8), hex64(b, 0), u32(b, 12))
end
d[9] = function(b, t, rep) return region_access(b, t, rep, rep) end
d[10] = function(b, t, rep) return region_access(b, t, rep, not rep) end

-- The count and data of a DMA_READ reply or DMA_WRITE request, in QEMU's
-- layout (a 4-byte count, data from payload byte 12) when the connection
-- uses it or the bytes show it.
local function dma_data(b, t, pinfo, item)
	local n = b:len() - 16
	if qemu_of[pinfo.number] or (u32(b, 8) == n and u32(b, 12) ~= 0) then
		t:add_le(f.count, b(8, 4))
		if n > 0 then t:add(f.data, b(12, n)) end
		item:add_proto_expert_info(e_qemu,
			"DMA data in QEMU's layout: 4-byte count, data from message byte 28")
	else
		t:add_le(f.count, b(8, 8))
		if n > 0 then t:add(f.data, b(16, n)) end
	end
end

d[11] = function(b, t, rep, pinfo, item)
	if b:len() < 16 then return "" end
	t:add_le(f.dma_addr, b(0, 8))
	if rep then
		dma_data(b, t, pinfo, item)
	else
		t:add_le(f.count, b(8, 8))
	end
	return "addr=" .. hex64(b, 0)
end

d[12] = function(b, t, rep, pinfo, item)
	if b:len() < 12 then return "" end
	t:add_le(f.dma_addr, b(0, 8))
	if rep then
		t:add_le(f.count, b(8, b:len() >= 16 and 8 or 4))
	elseif b:len() >= 16 then
		dma_data(b, t, pinfo, item)
	end
	return "addr=" .. hex64(b, 0)
end

d[15] = function(b, t, rep)
	if b:len() < 8 then return "" end
	t:add_le(f.wr_cnt, b(0, 8))
	if rep then return "" end
	for i = 0, 63 do
		local a = 8 + 24 * i
		if a + 24 > b:len() then break end
		local w = t:add(b(a, 24), "Write " .. i)
		w:add_le(f.offset, b(a, 8))
		w:add_le(f.region, b(a + 8, 4))
		w:add_le(f.count, b(a + 12, 4))
		w:add(f.data, b(a + 16, math.min(8, math.max(1, u32(b, a + 12)))))
	end
	return "writes=" .. u64(b, 0):tonumber()
end

d[16] = function(b, t, rep)
	if b:len() < 8 then return "" end
	t:add_le(f.argsz, b(0, 4))
	local fl = t:add_le(f.feat_flags, b(4, 4))
	fl:add_le(f.feat_index, b(4, 4))
	fl:add_le(f.feat_get, b(4, 4))
	fl:add_le(f.feat_set, b(4, 4))
	fl:add_le(f.feat_probe, b(4, 4))
	local flags = u32(b, 4)
	local idx, get, set = bit32.band(flags, 0xffff), bit32.btest(flags, 0x10000),
		bit32.btest(flags, 0x20000)
	if idx == 1 and rep and b:len() >= 16 then
		t:add_le(f.mig_flags, b(8, 8))
	elseif idx == 2 and (rep or set) and b:len() >= 16 then
		t:add_le(f.mig_state, b(8, 4))
	elseif idx == 6 and b:len() >= 24 then
		t:add_le(f.log_page, b(8, 8))
		t:add_le(f.log_ranges, b(16, 4))
		for i = 0, math.min(u32(b, 16), 64) - 1 do
			local a = 24 + 16 * i
			if a + 16 > b:len() then break end
			t:add_le(f.log_iova, b(a, 8))
			t:add_le(f.log_length, b(a + 8, 8))
		end
	elseif idx == 8 and b:len() >= 32 then
		t:add_le(f.log_iova, b(8, 8))
		t:add_le(f.log_length, b(16, 8))
		t:add_le(f.log_page, b(24, 8))
		if rep and b:len() > 32 then t:add(f.log_bitmap, b(32, b:len() - 32)) end
	end
	return (features[idx] or tostring(idx)) .. (get and " get" or "") .. (set and " set" or "")
end

local function mig_data(b, t, rep, pinfo, item, rd)
	if b:len() < 8 or (rep and not rd) then return "" end
	t:add_le(f.argsz, b(0, 4))
	t:add_le(f.mig_size, b(4, 4))
	if b:len() > 8 then t:add(f.data, b(8, b:len() - 8)) end
	local size = u32(b, 4)
	if rd and rep and b:len() > 8 + size and u32(b, 0) == 8 + size then
		item:add_proto_expert_info(e_padded, string.format(
			"MIG_DATA_READ reply padded: %d bytes sent, size says %d", b:len() - 8, size))
	end
	return "size=" .. size
end
d[17] = function(b, t, rep, pinfo, item) return mig_data(b, t, rep, pinfo, item, true) end
d[18] = function(b, t, rep, pinfo, item) return mig_data(b, t, rep, pinfo, item, false) end

function p.dissector(tvb, pinfo, tree)
	if tvb:len() < 8 then return 0 end
	local phlen = tvb(6, 2):le_uint()
	if tvb(0, 1):uint() ~= 1 or phlen < 8 or phlen > tvb:len() then return 0 end
	pinfo.cols.protocol = "vfio-user"
	local dir, chan = tvb(1, 1):uint(), tvb(2, 1):uint()
	local item = tree:add(p, tvb())
	item:add(f.dir, tvb(1, 1))
	item:add(f.channel, tvb(2, 1))
	item:add(f.incomplete, tvb(3, 1), bit32.btest(tvb(3, 1):uint(), 2))
	item:add_le(f.fds, tvb(4, 2))
	local m = tvb(phlen):tvb()
	local arrow = (dir == 0 and "C>S" or "S>C") .. (chan == 1 and "/twin" or "")
	if m:len() < 16 then
		item:add_proto_expert_info(e_short, "Cut off within the header")
		pinfo.cols.info = arrow .. " (partial header)"
		return tvb:len()
	end
	local id, cmd, size = m(0, 2):le_uint(), m(2, 2):le_uint(), m(4, 4):le_uint()
	local flags, err = m(8, 4):le_uint(), m(12, 4):le_uint()
	local rep = bit32.band(flags, 0xf) == 1
	item:add_le(f.msg_id, m(0, 2))
	item:add_le(f.cmd, m(2, 2))
	item:add_le(f.size, m(4, 4))
	local fl = item:add_le(f.flags, m(8, 4))
	fl:add_le(f.ftype, m(8, 4))
	fl:add_le(f.no_reply, m(8, 4))
	fl:add_le(f.ferror, m(8, 4))
	local iserr = rep and bit32.btest(flags, 0x20)
	if iserr then item:add_le(f.errno, m(12, 4)) end
	-- request and reply, matched by direction and id on the first pass
	local key = (rep and (1 - dir) or dir) .. ":" .. id
	if not pinfo.visited then
		if bit32.btest(tvb(3, 1):uint(), 1) then qemu_conn = false end
		if cmd == 1 and dir == 0 and not rep and m:len() >= 20 then
			qemu_conn = m(16, 4):le_uint() == 0
		end
		qemu_of[pinfo.number] = qemu_conn
		if not rep and not bit32.btest(flags, 0x10) then
			pending[key] = { frame = pinfo.number, time = pinfo.abs_ts }
		elseif rep and pending[key] then
			req_of[pinfo.number] = pending[key]
			rep_of[pending[key].frame] = pinfo.number
			pending[key] = nil
		end
	end
	if rep and req_of[pinfo.number] then
		local r = req_of[pinfo.number]
		item:add(f.request_in, r.frame)
		local dt = pinfo.abs_ts - r.time
		local secs = math.floor(dt)
		item:add(f.time, NSTime(secs, math.floor((dt - secs) * 1e9 + 0.5)))
	elseif rep then
		item:add_proto_expert_info(e_unknown)
	elseif rep_of[pinfo.number] then
		item:add(f.response_in, rep_of[pinfo.number])
	end
	local summary = ""
	local plen = math.min(m:len(), math.max(size, 16)) - 16
	if size < 16 then
		item:add_proto_expert_info(e_short, "Size below the 16-byte header")
	elseif not iserr and plen > 0 and d[cmd] then
		-- a payload too short for its command ends its decoding, not the packet's
		local ok, s = pcall(d[cmd], m(16, plen):tvb(), item, rep, pinfo, item)
		summary = ok and s or ""
	end
	local name = cmds[cmd] or ("command " .. cmd)
	local info = string.format("%s #%d %s%s", arrow, id, name, rep and " reply" or "")
	if iserr then info = info .. " " .. (errnos[err] or ("errno " .. err)) end
	if summary ~= "" then info = info .. " " .. summary end
	pinfo.cols.info = info
	return tvb:len()
end

local encaps = DissectorTable.get("wtap_encap")
encaps:add(wtap_encaps and wtap_encaps.USER0 or wtap.USER0, p)
