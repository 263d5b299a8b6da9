/* Non-inline wrappers around DPDK static inline functions; see shim.h. */
#include "shim.h"

int msm_rte_errno(void) { return rte_errno; }

uint16_t msm_eth_rx_burst(uint16_t port_id, uint16_t queue_id,
			  struct rte_mbuf **rx_pkts, uint16_t nb_pkts)
{
	return rte_eth_rx_burst(port_id, queue_id, rx_pkts, nb_pkts);
}

uint16_t msm_eth_tx_burst(uint16_t port_id, uint16_t queue_id,
			  struct rte_mbuf **tx_pkts, uint16_t nb_pkts)
{
	return rte_eth_tx_burst(port_id, queue_id, tx_pkts, nb_pkts);
}

uint64_t msm_rss_hf_ip_udp_tcp(void)
{
	return RTE_ETH_RSS_IP | RTE_ETH_RSS_UDP | RTE_ETH_RSS_TCP;
}

struct rte_mbuf *msm_pktmbuf_alloc(struct rte_mempool *mp)
{
	return rte_pktmbuf_alloc(mp);
}

int msm_pktmbuf_alloc_bulk(struct rte_mempool *mp, struct rte_mbuf **mbufs,
			   unsigned int count)
{
	return rte_pktmbuf_alloc_bulk(mp, mbufs, count);
}

void msm_pktmbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

char *msm_pktmbuf_prepend(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_prepend(m, len);
}

char *msm_pktmbuf_adj(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_adj(m, len);
}

int msm_pktmbuf_trim(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_trim(m, len);
}

char *msm_pktmbuf_append(struct rte_mbuf *m, uint16_t len)
{
	return rte_pktmbuf_append(m, len);
}

uint16_t msm_pktmbuf_headroom(const struct rte_mbuf *m)
{
	return rte_pktmbuf_headroom(m);
}

uint16_t msm_pktmbuf_tailroom(const struct rte_mbuf *m)
{
	return rte_pktmbuf_tailroom(m);
}

void *msm_pktmbuf_mtod(const struct rte_mbuf *m)
{
	return rte_pktmbuf_mtod(m, void *);
}

uint16_t msm_pktmbuf_data_len(const struct rte_mbuf *m) { return rte_pktmbuf_data_len(m); }
uint32_t msm_pktmbuf_pkt_len(const struct rte_mbuf *m) { return rte_pktmbuf_pkt_len(m); }
uint16_t msm_pktmbuf_nb_segs(const struct rte_mbuf *m) { return m->nb_segs; }

uint16_t msm_pktmbuf_data_room_size(struct rte_mempool *mp)
{
	return rte_pktmbuf_data_room_size(mp);
}

uint64_t msm_mbuf_f_rx_rss_hash(void) { return RTE_MBUF_F_RX_RSS_HASH; }

unsigned int msm_ring_enqueue_burst(struct rte_ring *r, void *const *objs,
				    unsigned int n, unsigned int *free_space)
{
	return rte_ring_enqueue_burst(r, objs, n, free_space);
}

unsigned int msm_ring_sp_enqueue_burst(struct rte_ring *r, void *const *objs,
				       unsigned int n, unsigned int *free_space)
{
	return rte_ring_sp_enqueue_burst(r, objs, n, free_space);
}

unsigned int msm_ring_dequeue_burst(struct rte_ring *r, void **objs,
				    unsigned int n, unsigned int *available)
{
	return rte_ring_dequeue_burst(r, objs, n, available);
}

unsigned int msm_ring_sc_dequeue_burst(struct rte_ring *r, void **objs,
				       unsigned int n, unsigned int *available)
{
	return rte_ring_sc_dequeue_burst(r, objs, n, available);
}

unsigned int msm_ring_count(const struct rte_ring *r) { return rte_ring_count(r); }
unsigned int msm_ring_free_count(const struct rte_ring *r) { return rte_ring_free_count(r); }
unsigned int msm_ring_get_capacity(const struct rte_ring *r) { return rte_ring_get_capacity(r); }

unsigned int msm_lcore_id(void) { return rte_lcore_id(); }
uint64_t msm_rdtsc(void) { return rte_rdtsc(); }
void msm_prefetch0(const void *p) { rte_prefetch0(p); }
