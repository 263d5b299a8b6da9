// SPDX-License-Identifier: Apache-2.0
// The XDP peer baseline (perf/xdp/, perf/README.md "XDP peer"): the MSM worker's per-packet
// job as an eBPF/XDP forwarder, the design of eUPF and Ella Core. A BPF hash map
// home -> care-of, IP-in-IP (RFC 2003) pushed on downlink and popped on uplink, with the
// MSM's checks (src/dataplane/classify.rs, forward.rs, decap.rs; ../shared/PROTOCOL.md):
//
// * Ethernet: destination our port's MAC (broadcast: ARP only), EtherType IPv4 (ARP and
//   everything addressed to us go to the slow path, XDP_PASS, as the MSM hands them to its
//   control/local stages).
// * IPv4: version 4, IHL 5 (options: slow path), total length >= header and within the
//   frame, header checksum verified, martian and own source addresses dropped.
// * Downlink (destination in the home pool): TTL decremented (TTL <= 1: slow path, which
//   answers ICMP), the binding looked up; bound: outer header pushed (version 4, IHL 5,
//   TOS and DF copied from the inner header, TTL CFG.outer_ttl, a fresh IP ID per CPU,
//   protocol 4, IPmsm-wlan -> care-of, checksum), out of the Internet port (XDP_TX);
//   unbound or at home: out of the WWAN port (bpf_redirect) to the GGSN's MAC.
// * Uplink through the reverse tunnel (protocol 4 to IPmsm-wlan, on the Internet port): outer
//   not a fragment, inner header valid (checksum, length = outer payload), reverse-tunnelled
//   registrations (UDP 434 to us) to the slow path, the outer source must be the care-of
//   address bound to the inner source (anti-spoofing, else dropped), RFC 6040 ECN, outer
//   header stripped, then routed like any packet (TTL; to the Internet, or re-tunnelled to
//   another mobile).
// * Plain uplink from the WWAN port (source in the pool): TTL, out of the Internet port.
// * Packets that do not fit the egress MTU (DF or not) and TCP SYNs (MSS clamping) go to the
//   slow path: the MSM does both on its data path; here they cost nothing on the benchmark's
//   UDP traffic but a compare.
//
// Every drop and forwarding event is counted in a per-CPU array (`stats`), as the MSM counts
// them. `xdp_macswap` is the floor: swap the MACs and XDP_TX, the job of the harness macswap
// baseline in msm-bench.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <linux/tcp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "msm_xdp.h"

/* Set by the loader before the program is loaded (.rodata: the verifier folds them). */
const volatile struct msm_xdp_cfg CFG = {};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024); /* set by the loader */
	__type(key, __u32);        /* home address, network order */
	__type(value, __u32);      /* care-of address, network order; 0: at home (WWAN) */
} bindings SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, MSM_XDP_STATS);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} ip_ident SEC(".maps");

#define OUTER 20
#define DF bpf_htons(0x4000)
#define MF_OFFSET bpf_htons(0x3fff)
#define ECN_MASK 3
#define ECN_CE 3

static __always_inline void count(__u32 what)
{
	__u64 *c = bpf_map_lookup_elem(&stats, &what);
	if (c)
		*c += 1;
}

static __always_inline int drop(__u32 why)
{
	count(why);
	return XDP_DROP;
}

static __always_inline int slow(__u32 why)
{
	count(why);
	return XDP_PASS;
}

static __always_inline int mac_eq(const __u8 *a, const volatile __u8 *b)
{
	return a[0] == b[0] && a[1] == b[1] && a[2] == b[2] && a[3] == b[3] && a[4] == b[4] &&
	       a[5] == b[5];
}

static __always_inline void write_eth(struct ethhdr *eth, const volatile __u8 *dst,
				      const volatile __u8 *src)
{
	/* Byte by byte: CFG is volatile (a plain memcpy would read the compile-time zeros). */
#pragma unroll
	for (int i = 0; i < ETH_ALEN; i++) {
		eth->h_dest[i] = dst[i];
		eth->h_source[i] = src[i];
	}
	eth->h_proto = bpf_htons(ETH_P_IP);
}

/* One's-complement sum of a 20-byte header, folded and inverted: 0 for a valid header. */
static __always_inline __u16 csum20(const void *h)
{
	const __u16 *w = h;
	__u32 s = 0;
#pragma unroll
	for (int i = 0; i < 10; i++)
		s += w[i];
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/* 0/8, loopback, multicast, reserved, broadcast (network-order address). */
static __always_inline int martian(__u32 a)
{
	__u8 first = ((const __u8 *)&a)[0];
	return first == 0 || first == 127 || first >= 224;
}

static __always_inline int is_own(__u32 a)
{
	return a == CFG.msm_wlan || a == CFG.msm_gprs;
}

static __always_inline int in_pool(__u32 a)
{
	return (a & CFG.pool_mask) == CFG.pool_addr;
}

/* RFC 1624 incremental update of a checksum for a 16-bit word changed from `old` to `new`. */
static __always_inline __u16 csum_update16(__u16 check, __u16 old, __u16 new)
{
	__u32 s = (__u16)~check + (__u16)~old + (__u32) new;
	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/* Sends the frame (Ethernet header already written) out of the Internet or the WWAN port. */
static __always_inline int out(struct xdp_md *ctx, int to_wwan)
{
	__u32 ifindex = to_wwan ? CFG.wwan_ifindex : CFG.inet_ifindex;
	if (ctx->ingress_ifindex == ifindex)
		return XDP_TX;
	return bpf_redirect(ifindex, 0);
}

/*
 * Routes the IPv4 packet after the Ethernet header (validated, IHL 5, not to us): the MSM's
 * forward::route. `tunnel`: it came out of the reverse tunnel; `from_wwan`: the ingress port.
 */
static __always_inline int route(struct xdp_md *ctx, int from_wwan, int tunnel)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end)
		return drop(ST_TRUNCATED);
	__u32 dst = ip->daddr;
	int downlink = in_pool(dst);
	int uplink = !downlink && (tunnel || (from_wwan && in_pool(ip->saddr)));
	if (!downlink && !uplink)
		return drop(ST_UNKNOWN_DESTINATION);
	if (ip->ttl <= 1)
		return slow(ST_SLOW_TTL); /* ICMP time exceeded */
	__u16 tot = bpf_ntohs(ip->tot_len);
	if (ip->protocol == IPPROTO_TCP && !(ip->frag_off & bpf_htons(0x1fff))) {
		struct tcphdr *th = (void *)(ip + 1);
		if ((void *)(th + 1) <= end && th->syn)
			return slow(ST_SLOW_SYN); /* MSS clamping */
	}
	/* Decrement the TTL, checksum updated incrementally (as ip_decrease_ttl). */
	__u32 check = ip->check;
	check += bpf_htons(0x0100);
	ip->check = (__u16)(check + (check >= 0xffff));
	ip->ttl--;
	if (!downlink) {
		if (!tunnel)
			count(ST_UPLINK_WWAN);
		if (tot > CFG.inet_mtu)
			return slow(ST_SLOW_MTU);
		write_eth(eth, CFG.inet_gw_mac, CFG.inet_mac);
		return out(ctx, 0);
	}
	if (tunnel)
		count(ST_MOBILE_TO_MOBILE);
	__u32 *coa = bpf_map_lookup_elem(&bindings, &dst);
	if (!coa || !*coa) {
		count(ST_DOWNLINK_WWAN);
		if (tot > CFG.wwan_mtu)
			return slow(ST_SLOW_MTU);
		write_eth(eth, CFG.wwan_gw_mac, CFG.wwan_mac);
		return out(ctx, 1);
	}
	__u32 to = *coa;
	if (tot + OUTER > CFG.inet_mtu)
		return slow(ST_SLOW_MTU); /* ICMP fragmentation needed, or fragment */
	__u8 tos = ip->tos;
	__u16 df = ip->frag_off & DF;
	__u32 zero = 0;
	__u32 *idp = bpf_map_lookup_elem(&ip_ident, &zero);
	__u16 id = 0;
	if (idp) {
		id = (__u16)*idp;
		*idp += 1;
	}
	if (bpf_xdp_adjust_head(ctx, -OUTER))
		return drop(ST_NO_HEADROOM);
	data = (void *)(long)ctx->data;
	end = (void *)(long)ctx->data_end;
	eth = data;
	struct iphdr *o = (void *)(eth + 1);
	if ((void *)(o + 1) > end)
		return drop(ST_TRUNCATED);
	write_eth(eth, CFG.inet_gw_mac, CFG.inet_mac);
	o->version = 4;
	o->ihl = 5;
	o->tos = tos;
	o->tot_len = bpf_htons(tot + OUTER);
	o->id = bpf_htons(id);
	o->frag_off = df;
	o->ttl = CFG.outer_ttl;
	o->protocol = IPPROTO_IPIP;
	o->check = 0;
	o->saddr = CFG.msm_wlan;
	o->daddr = to;
	o->check = csum20(o);
	count(ST_DOWNLINK_TUNNEL);
	return out(ctx, 0);
}

/* The reverse tunnel (decap.rs): `ip` is the validated outer header (IHL 5). */
static __always_inline int decap(struct xdp_md *ctx, int from_wwan)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	struct iphdr *in = (void *)(ip + 1);
	if ((void *)(in + 1) > end)
		return drop(ST_BAD_INNER_PACKET);
	if (ip->frag_off & MF_OFFSET)
		return drop(ST_TUNNEL_FRAGMENT);
	if (from_wwan)
		return drop(ST_TUNNEL_WRONG_SIDE);
	__u16 payload = bpf_ntohs(ip->tot_len) - OUTER;
	if (in->version != 4 || in->ihl < 5 || bpf_ntohs(in->tot_len) != payload ||
	    bpf_ntohs(in->tot_len) < 20)
		return drop(ST_BAD_INNER_PACKET);
	if (in->ihl != 5)
		return slow(ST_SLOW_OPTIONS);
	if (csum20(in) != 0)
		return drop(ST_BAD_INNER_PACKET);
	if (is_own(in->daddr) && in->protocol == IPPROTO_UDP && !(in->frag_off & MF_OFFSET)) {
		struct udphdr *u = (void *)(in + 1);
		if ((void *)(u + 1) <= end && u->dest == bpf_htons(434))
			return slow(ST_CONTROL_HANDED); /* reverse-tunnelled registration */
	}
	__u32 home = in->saddr;
	__u32 *coa = bpf_map_lookup_elem(&bindings, &home);
	if (!coa || *coa != ip->saddr)
		return drop(ST_SPOOFED_TUNNEL);
	if (martian(in->daddr))
		return drop(ST_MARTIAN_DESTINATION);
	/* RFC 6040 normal mode: outer CE into an ECN-capable inner header. */
	if ((ip->tos & ECN_MASK) == ECN_CE) {
		__u8 tos = in->tos;
		if ((tos & ECN_MASK) == 0)
			return drop(ST_ECN_CE_NOT_ECT);
		if ((tos & ECN_MASK) != ECN_CE) {
			__u16 *w = (__u16 *)in; /* version/IHL and TOS */
			__u16 old = *w;
			in->tos = tos | ECN_CE;
			in->check = csum_update16(in->check, old, *w);
		}
	}
	__u32 inner_dst = in->daddr;
	if (bpf_xdp_adjust_head(ctx, OUTER))
		return drop(ST_TRUNCATED);
	count(ST_UPLINK_TUNNEL);
	if (is_own(inner_dst))
		return slow(ST_SLOW_LOCAL); /* e.g. a ping to the MSM through the tunnel */
	return route(ctx, from_wwan, 1);
}

SEC("xdp")
int msm_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return drop(ST_TRUNCATED);
	int from_wwan = ctx->ingress_ifindex == CFG.wwan_ifindex;
	const volatile __u8 *mine = from_wwan ? CFG.wwan_mac : CFG.inet_mac;
	if (!mac_eq(eth->h_dest, mine)) {
		if (eth->h_dest[0] == 0xff && eth->h_dest[1] == 0xff && eth->h_dest[2] == 0xff &&
		    eth->h_dest[3] == 0xff && eth->h_dest[4] == 0xff && eth->h_dest[5] == 0xff &&
		    eth->h_proto == bpf_htons(ETH_P_ARP))
			return slow(ST_SLOW_ARP);
		return drop(ST_NOT_OUR_MAC);
	}
	if (eth->h_proto == bpf_htons(ETH_P_ARP))
		return slow(ST_SLOW_ARP);
	if (eth->h_proto != bpf_htons(ETH_P_IP))
		return drop(ST_ETHERTYPE);
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end)
		return drop(ST_TRUNCATED);
	if (ip->version != 4 || ip->ihl < 5)
		return drop(ST_BAD_IP_HEADER);
	__u16 tot = bpf_ntohs(ip->tot_len);
	if (tot < ip->ihl * 4)
		return drop(ST_BAD_IP_HEADER);
	if ((void *)ip + tot > end)
		return drop(ST_TRUNCATED);
	if (ip->ihl != 5)
		return slow(ST_SLOW_OPTIONS);
	if (csum20(ip) != 0)
		return drop(ST_BAD_IP_CHECKSUM);
	if (martian(ip->saddr) || is_own(ip->saddr))
		return drop(ST_MARTIAN_SOURCE);
	if (is_own(ip->daddr)) {
		if (ip->protocol == IPPROTO_IPIP && ip->daddr == CFG.msm_wlan)
			return decap(ctx, from_wwan);
		return slow(ST_SLOW_LOCAL);
	}
	if (martian(ip->daddr))
		return drop(ST_MARTIAN_DESTINATION);
	return route(ctx, from_wwan, 0);
}

/* The floor: what the harness macswap baseline does (swap the MACs, send back). */
SEC("xdp")
int xdp_macswap(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end)
		return XDP_DROP;
	__u8 tmp[ETH_ALEN];
	__builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
	return XDP_TX;
}

char LICENSE[] SEC("license") = "GPL";
