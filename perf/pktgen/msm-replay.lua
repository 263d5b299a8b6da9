-- Replay an msm-pcapgen pcap against the MSM with pktgen-dpdk, then print what came back.
--
-- pktgen loads the pcap given with `-s PORT:FILE` on its command line into a mempool at
-- start; `pktgen.pcap(port, "on")` makes the port send from that pool instead of its
-- single-packet template. The pool is sent round and round (and padded by repeating the
-- file when it holds fewer than 4096 frames); mbufs come back to the pool after
-- transmission, so the order and the number of copies of each frame are pktgen's.
--
--   pktgen -l 0-4 -n 4 -a <tester NIC 0> -a <tester NIC 1> -- -P -T \
--       -m "[1:2].0, [3:4].1" -s 0:/path/downlink.pcap -f perf/pktgen/msm-replay.lua
--
-- Settings (environment variables, read when the script starts):
--   MSM_TX_PORT   port that sends the pcap (default "0": cabled to the MSM's port that the
--                 pcap's destination MAC belongs to)
--   MSM_RX_PORT   port the MSM answers on (default: MSM_TX_PORT; downlink, uplink and
--                 direct/tunnel registrations all come back out of the MSM's internet port)
--   MSM_RATE      percent of line rate (default 100)
--   MSM_SECONDS   how long to send when MSM_COUNT is 0 (default 10)
--   MSM_COUNT     frames to send, 0 = until MSM_SECONDS (default 0)
--   MSM_QUIT      "1": quit pktgen at the end (default: stay at the prompt)
--
-- The MSM's own counters (`msm ctl stats`) are the reference; this prints the tester's
-- view: frames sent, frames received back, and their ratio (downlink/uplink: one out per
-- frame in, minus the leading ARP request which the MSM answers with one ARP reply).

package.path = package.path .. ";?.lua;test/?.lua;app/?.lua;../?.lua"
require "Pktgen"

local function env(name, default)
    local v = os.getenv(name)
    if v == nil or v == "" then
        return default
    end
    return v
end

local tx_port = env("MSM_TX_PORT", "0")
local rx_port = env("MSM_RX_PORT", tx_port)
local rate = tonumber(env("MSM_RATE", "100"))
local seconds = tonumber(env("MSM_SECONDS", "10"))
local count = tonumber(env("MSM_COUNT", "0"))
local quit = env("MSM_QUIT", "0") == "1"

-- Counters of one port, whichever portStats layout this pktgen version returns
-- (newer: t[pid].curr.opackets; older: t[pid].opackets).
local function counters(port)
    local t = pktgen.portStats(port)
    local p = t[tonumber(port)]
    if p == nil then
        return 0, 0
    end
    local c = p.curr or p
    return c.opackets or 0, c.ipackets or 0
end

local function sending(port)
    local s = pktgen.isSending(port)
    return s[tonumber(port)] == "y"
end

printf("msm-replay: port %s sends its pcap at %d%% of line rate, %s; answers expected on port %s\n",
    tx_port, rate, count > 0 and (count .. " frames") or (seconds .. " s"), rx_port)

pktgen.stop(tx_port)
pktgen.pcap(tx_port, "on")
pktgen.set(tx_port, "rate", rate)
pktgen.set(tx_port, "count", count)
pktgen.clr()
pktgen.delay(500)

pktgen.start(tx_port)
if count > 0 then
    -- Wait for the count to go out (and give up after MSM_SECONDS * 10).
    local waited = 0
    repeat
        pktgen.delay(100)
        waited = waited + 100
    until not sending(tx_port) or waited > seconds * 10000
else
    pktgen.delay(seconds * 1000)
end
pktgen.stop(tx_port)
pktgen.delay(1000) -- let the last answers arrive

local sent = counters(tx_port)
local _, received = counters(rx_port)
printf("msm-replay: sent %d frames on port %s, received %d on port %s (%.4f)\n",
    sent, tx_port, received, rx_port, sent > 0 and received / sent or 0)

pktgen.pcap(tx_port, "off")
if quit then
    pktgen.quit()
end
