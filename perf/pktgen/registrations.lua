-- A registration storm from an msm-pcapgen registrations.pcap with pktgen-dpdk.
--
--   msm-pcapgen registrations --out DIR --subscribers 100000 --time-offset 30 \
--       --msm-mac <MSM internet MAC> --peer-mac <tester port MAC> ...
--   MSM_FRAMES=$(jq .frames DIR/manifest-registrations.json) \
--   pktgen ... -- -P -T -m "[1:2].0" -s 0:DIR/registrations.pcap -f perf/pktgen/registrations.lua
--
-- Start it so that the storm reaches the MSM inside its replay window: the requests'
-- Identification timestamps run from the generation time (+ --time-offset) onwards, and
-- the MSM accepts a request only within replay_window_s (7 s) of its own clock. Generated
-- earlier, or replayed twice, the storm is answered 133 (identification mismatch).
--
-- What pktgen can and cannot do here: it sends the pcap from a mempool, in the pool's
-- order and possibly more than once per frame (mbufs return to the pool after
-- transmission), so MSM_FRAMES frames are not guaranteed to be exactly one copy of each
-- request. Repeats are answered 133 after full parsing and HMAC verification, so the
-- control-plane load is real, but the count of code-0 replies is below MSM_FRAMES. For
-- exactly-once, in-order storms use TRex (perf/trex/msm_pcap.py or msm_push.py) or any
-- pcap replayer that keeps order. Use --rounds 1 with pktgen (later rounds may overtake
-- earlier ones and be refused).
--
-- Settings: MSM_FRAMES (required: frames in the pcap, from the manifest), MSM_TX_PORT
-- (default "0"), MSM_RX_PORT (default MSM_TX_PORT; the wwan port for --path wwan),
-- MSM_RATE (percent of line rate, default 1: 100k requests at 1 % of 10 GbE take ~0.8 s).

local frames = tonumber(os.getenv("MSM_FRAMES") or "")
if frames == nil or frames <= 0 then
    error("registrations.lua: set MSM_FRAMES to the frame count of manifest-registrations.json")
end
-- Hand over to the generic replay script with a fixed count and a low default rate.
local set = {
    MSM_COUNT = tostring(frames),
    MSM_RATE = os.getenv("MSM_RATE") or "1",
}
local getenv = os.getenv
os.getenv = function(name)
    if set[name] ~= nil then
        return set[name]
    end
    return getenv(name)
end
local here = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(here .. "msm-replay.lua")
