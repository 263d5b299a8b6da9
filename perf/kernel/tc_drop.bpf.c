// SPDX-License-Identifier: Apache-2.0
// perf/kernel-baseline.sh: tc ingress drops that keep the kernel's own IP input out of
// the measured path. Both run after the packet taps, so DPDK's af_packet sockets still
// get every frame.
//
// sec "tc" (drop_all): on the forwarder's veths while the MSM owns them (as a NIC
//   bound to DPDK would, the kernel stack never sees the MSM's traffic).
// sec "classifier" (drop_ipv4): on the generator's veth, the sink: the tunnelled
//   frames coming back are counted by the generator (af_packet) and then dropped
//   instead of being routed by the generator namespace; ARP still passes.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/pkt_cls.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

SEC("tc")
int drop_all(struct __sk_buff *skb)
{
	return TC_ACT_SHOT;
}

SEC("classifier")
int drop_ipv4(struct __sk_buff *skb)
{
	return skb->protocol == bpf_htons(ETH_P_IP) ? TC_ACT_SHOT : TC_ACT_OK;
}

char LICENSE[] SEC("license") = "GPL";
