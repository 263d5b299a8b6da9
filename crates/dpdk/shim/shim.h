/*
 * msm-dpdk C shim: non-inline wrappers for DPDK 22.11's `static inline`
 * fast-path functions (which bindgen cannot link against) plus a few
 * macro values that bindgen cannot evaluate.
 *
 * Per-packet mbuf accessors are implemented in Rust directly on the
 * `struct rte_mbuf` layout; the wrappers here are used per burst or on
 * slow paths (and are kept for completeness / cross-checking in tests).
 */
#ifndef MSM_DPDK_SHIM_H
#define MSM_DPDK_SHIM_H

#include <stdint.h>
#include <rte_common.h>
#include <rte_config.h>
#include <rte_errno.h>
#include <rte_eal.h>
#include <rte_lcore.h>
#include <rte_launch.h>
#include <rte_cycles.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_malloc.h>
#include <rte_ring.h>
#include <rte_eth_ring.h>
#include <rte_bus_vdev.h>
#include <rte_telemetry.h>
#include <rte_pdump.h>

/* errno */
int msm_rte_errno(void);

/* ethdev fast path */
uint16_t msm_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
			  struct rte_mbuf **rx_pkts, uint16_t nb_pkts);
uint16_t msm_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
			  struct rte_mbuf **tx_pkts, uint16_t nb_pkts);

/* RSS hash fields requested when RSS is enabled: IP | UDP | TCP. */
uint64_t msm_rss_hf_ip_udp_tcp(void);

/* mbuf */
struct rte_mbuf *msm_pktmbuf_alloc(struct rte_mempool *mp);
int msm_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
			   unsigned int count);
void msm_pktmbuf_free(struct rte_mbuf *m);
char *msm_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len);
char *msm_pktmbuf_adj(struct rte_mbuf *m, uint16_t len);
int msm_pktmbuf_trim(struct rte_mbuf *m, uint16_t len);
char *msm_pktmbuf_append(struct rte_mbuf *m, uint16_t len);
uint16_t msm_pktmbuf_headroom(const struct rte_mbuf *m);
uint16_t msm_pktmbuf_tailroom(const struct rte_mbuf *m);
void *msm_pktmbuf_mtod(const struct rte_mbuf *m);
uint16_t msm_pktmbuf_data_len(const struct rte_mbuf *m);
uint32_t msm_pktmbuf_pkt_len(const struct rte_mbuf *m);
uint16_t msm_pktmbuf_nb_segs(const struct rte_mbuf *m);
uint16_t msm_pktmbuf_data_room_size(struct rte_mempool *mp);
uint64_t msm_mbuf_f_rx_rss_hash(void);

/* ring */
unsigned int msm_ring_enqueue_burst(struct rte_ring *r, void *const *objs,
				    unsigned int n, unsigned int *free_space);
unsigned int msm_ring_sp_enqueue_burst(struct rte_ring *r, void *const *objs,
				       unsigned int n, unsigned int *free_space);
unsigned int msm_ring_dequeue_burst(struct rte_ring *r, void **objs,
				    unsigned int n, unsigned int *available);
unsigned int msm_ring_sc_dequeue_burst(struct rte_ring *r, void **objs,
				       unsigned int n, unsigned int *available);
unsigned int msm_ring_count(const struct rte_ring *r);
unsigned int msm_ring_free_count(const struct rte_ring *r);
unsigned int msm_ring_get_capacity(const struct rte_ring *r);

/* lcore / timing */
unsigned int msm_lcore_id(void);
uint64_t msm_rdtsc(void);
void msm_prefetch0(const void *p);

#endif
