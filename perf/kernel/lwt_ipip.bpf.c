// SPDX-License-Identifier: Apache-2.0
// Kernel baseline for the MSM data-plane benchmark (perf/kernel-baseline.sh).
//
// An `encap bpf xmit` lightweight-tunnel program: the kernel has no CONFIG_NET_IPIP, so
// `ip route ... encap ip` (which needs a collect_md ipip device to transmit) cannot
// tunnel. Every per-mobile route `HOME/32 encap bpf xmit pinned PROG` runs this program
// after the FIB lookup has chosen that route: it looks up the care-of address of the
// packet's destination in `coa_map` (home -> care-of, both network order; filled by
// lwt_load), prepends an outer IPv4 header (protocol 4, RFC 2003) with
// bpf_lwt_push_encap(BPF_LWT_ENCAP_IP) and asks the kernel to route the packet again
// toward the care-of address (BPF_LWT_REROUTE).
#include <linux/bpf.h>
#include <linux/ip.h>
#include <linux/in.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#ifndef OUTER_SRC
#define OUTER_SRC 0xc6336401 /* 198.51.100.1, IPmsm-wlan (host order) */
#endif
#ifndef OUTER_TTL
#define OUTER_TTL 64
#endif

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024); /* set by lwt_load to the binding count */
	__type(key, __u32);
	__type(value, __u32);
} coa_map SEC(".maps");

SEC("lwt_xmit")
int ipip_xmit(struct __sk_buff *skb)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;
	struct iphdr *ip = data;
	struct iphdr outer = {};
	__u32 *coa;

	if ((void *)(ip + 1) > end || ip->version != 4)
		return BPF_DROP;
	coa = bpf_map_lookup_elem(&coa_map, &ip->daddr);
	if (!coa)
		return BPF_DROP; /* no binding: the MSM drops too */
	outer.version = 4;
	outer.ihl = 5;
	outer.tos = ip->tos;
	outer.tot_len = bpf_htons(bpf_ntohs(ip->tot_len) + sizeof(outer));
	outer.frag_off = ip->frag_off & bpf_htons(0x4000); /* copy DF */
	outer.ttl = OUTER_TTL;
	outer.protocol = IPPROTO_IPIP;
	outer.saddr = bpf_htonl(OUTER_SRC);
	outer.daddr = *coa;
	/* check == 0: the kernel fills the header checksum */
	if (bpf_lwt_push_encap(skb, BPF_LWT_ENCAP_IP, &outer, sizeof(outer)))
		return BPF_DROP;
	return BPF_LWT_REROUTE;
}

char LICENSE[] SEC("license") = "GPL";
