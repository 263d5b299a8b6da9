// SPDX-License-Identifier: Apache-2.0
// Loader for lwt_ipip.bpf.o (perf/kernel-baseline.sh), built with clang + libbpf.
//
//   lwt_load load OBJ PIN_DIR MAX_ENTRIES
//       load the program with coa_map sized to MAX_ENTRIES; pin PIN_DIR/prog and
//       PIN_DIR/coa_map (PIN_DIR on a bpf filesystem)
//   lwt_load fill MAP_PIN FILE
//       add `HOME CARE_OF` lines of FILE (dotted quads, `#` comments and other
//       columns ignored) to the pinned map, in batches
#include <arpa/inet.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BATCH 65536

static int load(const char *obj_path, const char *dir, unsigned max)
{
	char path[4096];
	struct bpf_object *obj = bpf_object__open_file(obj_path, NULL);
	if (!obj) {
		fprintf(stderr, "lwt_load: open %s: %s\n", obj_path, strerror(errno));
		return 1;
	}
	struct bpf_map *map = bpf_object__find_map_by_name(obj, "coa_map");
	if (!map || bpf_map__set_max_entries(map, max ? max : 1)) {
		fprintf(stderr, "lwt_load: coa_map missing or not resizable\n");
		return 1;
	}
	int err = bpf_object__load(obj);
	if (err) {
		fprintf(stderr, "lwt_load: load %s: %s\n", obj_path, strerror(-err));
		return 1;
	}
	struct bpf_program *prog = bpf_object__find_program_by_name(obj, "ipip_xmit");
	if (!prog) {
		fprintf(stderr, "lwt_load: program ipip_xmit missing\n");
		return 1;
	}
	snprintf(path, sizeof(path), "%s/prog", dir);
	if ((err = bpf_program__pin(prog, path))) {
		fprintf(stderr, "lwt_load: pin %s: %s\n", path, strerror(-err));
		return 1;
	}
	snprintf(path, sizeof(path), "%s/coa_map", dir);
	if ((err = bpf_map__pin(map, path))) {
		fprintf(stderr, "lwt_load: pin %s: %s\n", path, strerror(-err));
		return 1;
	}
	bpf_object__close(obj); /* the pins keep program and map alive */
	return 0;
}

static int flush(int fd, __u32 *keys, __u32 *vals, __u32 n)
{
	__u32 done = 0;
	while (done < n) {
		__u32 count = n - done;
		int err = bpf_map_update_batch(fd, keys + done, vals + done, &count, NULL);
		if (err && count == 0) {
			fprintf(stderr, "lwt_load: map update: %s\n", strerror(errno));
			return -1;
		}
		done += count;
	}
	return 0;
}

static int fill(const char *map_path, const char *file)
{
	int fd = bpf_obj_get(map_path);
	if (fd < 0) {
		fprintf(stderr, "lwt_load: %s: %s\n", map_path, strerror(errno));
		return 1;
	}
	FILE *f = fopen(file, "r");
	if (!f) {
		fprintf(stderr, "lwt_load: %s: %s\n", file, strerror(errno));
		return 1;
	}
	__u32 *keys = malloc(BATCH * sizeof(__u32)), *vals = malloc(BATCH * sizeof(__u32));
	__u32 n = 0;
	unsigned long total = 0, line_no = 0;
	char line[256], home[64], coa[64];
	while (fgets(line, sizeof(line), f)) {
		line_no++;
		char *hash = strchr(line, '#');
		if (hash)
			*hash = 0;
		if (sscanf(line, "%63s %63s", home, coa) != 2)
			continue;
		struct in_addr h, c;
		if (inet_pton(AF_INET, home, &h) != 1 || inet_pton(AF_INET, coa, &c) != 1) {
			fprintf(stderr, "lwt_load: %s:%lu: not 'HOME CARE_OF'\n", file, line_no);
			return 1;
		}
		keys[n] = h.s_addr;
		vals[n] = c.s_addr;
		if (++n == BATCH) {
			if (flush(fd, keys, vals, n))
				return 1;
			total += n;
			n = 0;
		}
	}
	if (n && flush(fd, keys, vals, n))
		return 1;
	total += n;
	printf("%lu\n", total);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc == 5 && !strcmp(argv[1], "load"))
		return load(argv[2], argv[3], (unsigned)strtoul(argv[4], NULL, 10));
	if (argc == 4 && !strcmp(argv[1], "fill"))
		return fill(argv[2], argv[3]);
	fprintf(stderr, "usage: lwt_load load OBJ PIN_DIR MAX_ENTRIES | fill MAP_PIN FILE\n");
	return 2;
}
