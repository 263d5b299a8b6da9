/* SPDX-License-Identifier: Apache-2.0 */
/* Shared by the XDP peer (msm_xdp.bpf.c) and its driver (xdp_peer.c). */
#ifndef MSM_XDP_H
#define MSM_XDP_H

#include <linux/types.h>

/* The forwarder's configuration (addresses in network order). */
struct msm_xdp_cfg {
	__u32 msm_wlan;  /* IPmsm-wlan: tunnels end here, outer source */
	__u32 msm_gprs;  /* IPmsm-gprs: the WWAN-side address */
	__u32 pool_addr; /* the home pool */
	__u32 pool_mask;
	__u32 inet_ifindex;
	__u32 wwan_ifindex;
	__u16 inet_mtu;
	__u16 wwan_mtu;
	__u8 outer_ttl;
	__u8 inet_mac[6];    /* our Internet port */
	__u8 inet_gw_mac[6]; /* its next hop */
	__u8 wwan_mac[6];    /* our WWAN port */
	__u8 wwan_gw_mac[6]; /* the GGSN */
	__u8 pad[3];
};

/* Counters (index into the per-CPU array `stats`). */
#define MSM_XDP_STAT_LIST(X)                                                                   \
	X(ST_DOWNLINK_TUNNEL, "downlink_tunnel")                                               \
	X(ST_DOWNLINK_WWAN, "downlink_wwan")                                                   \
	X(ST_UPLINK_TUNNEL, "uplink_tunnel")                                                   \
	X(ST_UPLINK_WWAN, "uplink_wwan")                                                       \
	X(ST_MOBILE_TO_MOBILE, "mobile_to_mobile")                                             \
	X(ST_CONTROL_HANDED, "control_handed")                                                 \
	X(ST_SLOW_ARP, "slow_arp")                                                             \
	X(ST_SLOW_LOCAL, "slow_local")                                                         \
	X(ST_SLOW_OPTIONS, "slow_options")                                                     \
	X(ST_SLOW_TTL, "slow_ttl")                                                             \
	X(ST_SLOW_SYN, "slow_syn")                                                             \
	X(ST_SLOW_MTU, "slow_mtu")                                                             \
	X(ST_TRUNCATED, "drop_truncated")                                                      \
	X(ST_NOT_OUR_MAC, "drop_not_our_mac")                                                  \
	X(ST_ETHERTYPE, "drop_ethertype")                                                      \
	X(ST_BAD_IP_HEADER, "drop_bad_ip_header")                                              \
	X(ST_BAD_IP_CHECKSUM, "drop_bad_ip_checksum")                                          \
	X(ST_MARTIAN_SOURCE, "drop_martian_source")                                            \
	X(ST_MARTIAN_DESTINATION, "drop_martian_destination")                                  \
	X(ST_UNKNOWN_DESTINATION, "drop_unknown_destination")                                  \
	X(ST_TUNNEL_FRAGMENT, "drop_tunnel_fragment")                                          \
	X(ST_TUNNEL_WRONG_SIDE, "drop_tunnel_wrong_side")                                      \
	X(ST_BAD_INNER_PACKET, "drop_bad_inner_packet")                                        \
	X(ST_SPOOFED_TUNNEL, "drop_spoofed_tunnel")                                            \
	X(ST_ECN_CE_NOT_ECT, "drop_ecn_ce_not_ect")                                            \
	X(ST_NO_HEADROOM, "drop_no_headroom")

#define MSM_XDP_ENUM(id, name) id,
enum msm_xdp_stat { MSM_XDP_STAT_LIST(MSM_XDP_ENUM) MSM_XDP_STATS };
#undef MSM_XDP_ENUM

#endif
