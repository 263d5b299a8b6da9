// SPDX-License-Identifier: Apache-2.0
// Traffic generator and sink for the XDP peer's veth method (xdp_peer veth; perf/README.md
// "XDP peer"). `xdp_gen` runs under BPF_PROG_TEST_RUN in live-frames mode: it writes the
// headers of the next frame of a precomputed sequence (home, care-of) into each frame
// (msm-bench's templates: 64-byte frames, UDP 40000 -> 5001, TTL 64) and redirects it into
// veth A; the forwarder under test runs in veth B's NAPI poll (native XDP) and sends it
// back with XDP_TX; `xdp_sink` on A checks what came back and drops it.
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

struct gen_cfg {
	__u32 out_ifindex; /* veth A */
	__u32 seq_mask;    /* sequence length - 1 (a power of two) */
	__u32 msm_wlan;    /* network order */
	__u32 server;      /* network order */
	__u32 uplink;
	__u8 dst_mac[6]; /* the forwarder's port */
	__u8 src_mac[6]; /* its next hop */
};

const volatile struct gen_cfg GEN = {};

struct pair {
	__u32 home; /* network order */
	__u32 coa;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1 << 20);
	__type(key, __u32);
	__type(value, struct pair);
} gen_seq SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} gen_pos SEC(".maps");

/* Sink verdicts: 0 tunnelled downlink as expected, 1 decapsulated uplink, 2 anything else. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__type(value, __u64);
} sink_stats SEC(".maps");

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

static __always_inline void ipv4(struct iphdr *h, __u16 total, __u8 proto, __u32 src, __u32 dst)
{
	h->version = 4;
	h->ihl = 5;
	h->tos = 0;
	h->tot_len = bpf_htons(total);
	h->id = 0;
	h->frag_off = 0;
	h->ttl = 64;
	h->protocol = proto;
	h->check = 0;
	h->saddr = src;
	h->daddr = dst;
	h->check = csum20(h);
}

SEC("xdp")
int xdp_gen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	/* 60 bytes (downlink) or 80 (uplink) */
	if (data + 80 > end && GEN.uplink)
		return XDP_ABORTED;
	if (data + 60 > end)
		return XDP_ABORTED;
	__u32 zero = 0;
	__u32 *pos = bpf_map_lookup_elem(&gen_pos, &zero);
	if (!pos)
		return XDP_ABORTED;
	__u32 k = *pos & GEN.seq_mask;
	*pos += 1;
	struct pair *p = bpf_map_lookup_elem(&gen_seq, &k);
	if (!p)
		return XDP_ABORTED;
#pragma unroll
	for (int i = 0; i < ETH_ALEN; i++) {
		eth->h_dest[i] = GEN.dst_mac[i];
		eth->h_source[i] = GEN.src_mac[i];
	}
	eth->h_proto = bpf_htons(ETH_P_IP);
	struct iphdr *ip = (void *)(eth + 1);
	struct udphdr *u;
	if (GEN.uplink) {
		if ((void *)ip + 60 > end)
			return XDP_ABORTED;
		struct iphdr *in = ip + 1;
		ipv4(ip, 66, IPPROTO_IPIP, p->coa, GEN.msm_wlan);
		ipv4(in, 46, IPPROTO_UDP, p->home, GEN.server);
		u = (void *)(in + 1);
	} else {
		if ((void *)ip + 40 > end)
			return XDP_ABORTED;
		ipv4(ip, 46, IPPROTO_UDP, GEN.server, p->home);
		u = (void *)(ip + 1);
	}
	if ((void *)(u + 1) > end)
		return XDP_ABORTED;
	u->source = bpf_htons(40000);
	u->dest = bpf_htons(5001);
	u->len = bpf_htons(26);
	u->check = 0;
	return bpf_redirect(GEN.out_ifindex, 0);
}

SEC("xdp")
int xdp_sink(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);
	__u32 verdict = 2;
	if ((void *)(ip + 1) <= end && csum20(ip) == 0) {
		struct iphdr *in = ip + 1;
		if (data + 80 == end && ip->protocol == IPPROTO_IPIP && ip->saddr == GEN.msm_wlan &&
		    (void *)(in + 1) <= end && in->ttl == 63 && in->saddr == GEN.server)
			verdict = 0;
		else if (data + 60 == end && ip->protocol == IPPROTO_UDP && ip->ttl == 63 &&
			 ip->daddr == GEN.server)
			verdict = 1;
	}
	__u64 *c = bpf_map_lookup_elem(&sink_stats, &verdict);
	if (c)
		*c += 1;
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
