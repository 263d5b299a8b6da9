-- A stand-in for pktgen-dpdk's Lua API (the functions msm-replay.lua uses, with the
-- argument counts and types of app/lpktgenlib.c), to run the scripts here without
-- pktgen: `lua5.3 perf/pktgen/mock_pktgen.lua SCRIPT` runs SCRIPT against it and checks
-- the calls. Not a simulation of pktgen: it only proves the scripts run through.
local calls = {}
local sent = 0
local function rec(name, ...)
    local args = { ... }
    for i, a in ipairs(args) do
        args[i] = tostring(a)
    end
    calls[#calls + 1] = name .. "(" .. table.concat(args, ",") .. ")"
end
local function want(n, name, ...)
    if select("#", ...) ~= n then
        error(name .. ": wrong number of arguments")
    end
end
local sending = false
pktgen = {
    stop = function(...) want(1, "stop", ...); rec("stop", ...); sending = false end,
    start = function(...) want(1, "start", ...); rec("start", ...); sending = true end,
    pcap = function(...) want(2, "pcap", ...); rec("pcap", ...) end,
    set = function(...)
        want(3, "set", ...)
        local _, what, v = ...
        assert(({ count = 1, rate = 1, size = 1 })[what], "set " .. what)
        assert(tonumber(v), "set value must be a number")
        rec("set", ...)
    end,
    clr = function(...) want(0, "clr", ...); rec("clr") end,
    delay = function(...)
        want(1, "delay", ...)
        assert(math.type(...) == "integer" or math.floor(...) == ..., "delay wants an integer")
        if sending then sent = sent + 1000; sending = false end
    end,
    isSending = function(p) want(1, "isSending", p); return { [tonumber(p)] = sending and "y" or "n", n = 1 } end,
    portStats = function(p)
        want(1, "portStats", p)
        return { [tonumber(p)] = { curr = { opackets = sent, ipackets = sent - 1 } }, n = 1 }
    end,
    quit = function() rec("quit") end,
}
package.preload["Pktgen"] = function()
    function printf(...) io.write(string.format(...)) end
    return true
end
local script = assert(arg[1], "usage: lua5.3 mock_pktgen.lua SCRIPT")
dofile(script)
local log = table.concat(calls, " ")
print("calls: " .. log)
assert(log:find("pcap%(0,on%)"), "pcap sending not enabled")
assert(log:find("start%(0%)") and log:find("stop%(0%)"), "no start/stop")
assert(log:find("set%(0,rate,"), "rate not set")
if os.getenv("MSM_EXPECT_COUNT") then
    assert(log:find("set%(0,count," .. os.getenv("MSM_EXPECT_COUNT") .. "%)"), "count not set")
end
print("mock run of " .. script .. ": ok")
