// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>
#include "profile.pb-c.h"
#include "profile/prof_pprof.h"

typedef Perftools__Profiles__Profile Profile;
typedef Perftools__Profiles__ValueType ValueType;
typedef Perftools__Profiles__Sample Sample;
typedef Perftools__Profiles__Label Label;
typedef Perftools__Profiles__Location Location;
typedef Perftools__Profiles__Line Line;
typedef Perftools__Profiles__Function Function;

/* Strings the profile adds to the aggregate's (their ids follow a->nstrs). */
enum {
	S_SAMPLES, S_COUNT, S_CPU, S_WALL, S_NANOSECONDS, S_THREAD, S_STATE, S_OFF_CPU, S_GROUP,
	S_EXTRA
};

struct pprof_build {
	Profile p;
	ValueType types[2], period_type;
	ValueType *type_ptrs[2];
	char **strings;
	Function *funcs;
	Function **func_ptrs;
	uint32_t *func_of_node;		/* node id -> function id */
	Location *locs;
	Location **loc_ptrs;
	Line *lines;
	Line **line_ptrs;
	Sample *samples;
	Sample **sample_ptrs;
	uint64_t *loc_ids;		/* every sample's location ids, leaf first */
	int64_t *values;
	Label *labels;
	Label **label_ptrs;
};

static void build_free(struct pprof_build *b)
{
	free(b->strings);
	free(b->funcs);
	free(b->func_ptrs);
	free(b->func_of_node);
	free(b->locs);
	free(b->loc_ptrs);
	free(b->lines);
	free(b->line_ptrs);
	free(b->samples);
	free(b->sample_ptrs);
	free(b->loc_ids);
	free(b->values);
	free(b->labels);
	free(b->label_ptrs);
}

/* A function per distinct (kind, name, file) among the nodes. */
static int add_functions(struct pprof_build *b, const struct prof_agg *a)
{
	struct u64_map index = { 0 };
	uint32_t nf = 0;
	int err = 0;

	for (uint32_t i = 0; i < a->nnodes; i++) {
		const struct prof_node *n = &a->nodes[i];
		uint64_t key = (uint64_t)n->kind << 60 | (uint64_t)(n->name & 0x3fffffff) << 30 |
			       (n->file & 0x3fffffff);
		uint32_t v;

		if (u64_map_get(&index, key | 1ULL << 63, &v)) {
			b->func_of_node[i] = (uint32_t)v;
			continue;
		}
		err = u64_map_put(&index, key | 1ULL << 63, (uint32_t)(nf + 1));
		if (err)
			goto cleanup;
		perftools__profiles__function__init(&b->funcs[nf]);
		b->funcs[nf].id = nf + 1;
		b->funcs[nf].name = n->name;
		b->funcs[nf].system_name = n->name;
		b->funcs[nf].filename = n->file;
		b->funcs[nf].start_line = n->start_line > 0 ? n->start_line : 0;
		b->func_ptrs[nf] = &b->funcs[nf];
		b->func_of_node[i] = ++nf;
	}
	b->p.n_function = nf;
	b->p.function = b->func_ptrs;
cleanup:
	u64_map_free(&index);
	return err;
}

/* A location per node: id = node id + 1. */
static void add_locations(struct pprof_build *b, const struct prof_agg *a)
{
	for (uint32_t i = 0; i < a->nnodes; i++) {
		perftools__profiles__line__init(&b->lines[i]);
		b->lines[i].function_id = b->func_of_node[i];
		b->lines[i].line = a->nodes[i].line > 0 ? a->nodes[i].line : 0;
		b->line_ptrs[i] = &b->lines[i];
		perftools__profiles__location__init(&b->locs[i]);
		b->locs[i].id = i + 1;
		b->locs[i].n_line = 1;
		b->locs[i].line = &b->line_ptrs[i];
		b->loc_ptrs[i] = &b->locs[i];
	}
	b->p.n_location = a->nnodes;
	b->p.location = b->loc_ptrs;
}

static void add_samples(struct pprof_build *b, const struct prof_agg *a,
			const struct prof_meta *m)
{
	uint32_t extra = a->nstrs;
	size_t li = 0, ni = 0, n = 0;

	for (uint32_t i = 0; i < a->nstacks; i++) {
		const struct prof_stack *s = &a->stacks[i];
		Sample *smp = &b->samples[n];
		Label *lab = &b->labels[ni];

		if (!s->count)
			continue;
		perftools__profiles__sample__init(smp);
		smp->location_id = b->loc_ids + li;
		for (uint32_t k = s->n; k-- > 0;)
			b->loc_ids[li++] = a->ids[s->first + k] + 1;
		smp->n_location_id = s->n;
		smp->value = b->values + 2 * n;
		smp->value[0] = (int64_t)s->count;
		smp->value[1] = (int64_t)s->weight_ns;
		smp->n_value = 2;
		smp->label = b->label_ptrs + ni;
		perftools__profiles__label__init(&lab[smp->n_label]);
		lab[smp->n_label].key = extra + S_THREAD;
		lab[smp->n_label++].str = s->thread;
		if (m->group_key && s->group != s->thread) {
			perftools__profiles__label__init(&lab[smp->n_label]);
			lab[smp->n_label].key = extra + S_GROUP;
			lab[smp->n_label++].str = s->group;
		}
		if (s->off_cpu) {
			perftools__profiles__label__init(&lab[smp->n_label]);
			lab[smp->n_label].key = extra + S_STATE;
			lab[smp->n_label++].str = extra + S_OFF_CPU;
		}
		for (size_t k = 0; k < smp->n_label; k++)
			b->label_ptrs[ni + k] = &lab[k];
		ni += smp->n_label;
		b->sample_ptrs[n++] = smp;
	}
	b->p.n_sample = n;
	b->p.sample = b->sample_ptrs;
}

int prof_pprof_encode(const struct prof_agg *a, const struct prof_meta *m, uint8_t **out,
		      size_t *len)
{
	struct pprof_build b = { 0 };
	uint32_t extra = a->nstrs;
	size_t nstr = a->nstrs + S_EXTRA, nn = a->nnodes ? a->nnodes : 1;
	size_t ns = a->nstacks ? a->nstacks : 1;
	int err;

	*out = NULL;
	*len = 0;
	b.strings = calloc(nstr, sizeof(*b.strings));
	b.funcs = calloc(nn, sizeof(*b.funcs));
	b.func_ptrs = calloc(nn, sizeof(*b.func_ptrs));
	b.func_of_node = calloc(nn, sizeof(*b.func_of_node));
	b.locs = calloc(nn, sizeof(*b.locs));
	b.loc_ptrs = calloc(nn, sizeof(*b.loc_ptrs));
	b.lines = calloc(nn, sizeof(*b.lines));
	b.line_ptrs = calloc(nn, sizeof(*b.line_ptrs));
	b.samples = calloc(ns, sizeof(*b.samples));
	b.sample_ptrs = calloc(ns, sizeof(*b.sample_ptrs));
	b.loc_ids = calloc(a->nids ? a->nids : 1, sizeof(*b.loc_ids));
	b.values = calloc(2 * ns, sizeof(*b.values));
	b.labels = calloc(3 * ns, sizeof(*b.labels));
	b.label_ptrs = calloc(3 * ns, sizeof(*b.label_ptrs));
	if (!b.strings || !b.funcs || !b.func_ptrs || !b.func_of_node || !b.locs || !b.loc_ptrs ||
	    !b.lines || !b.line_ptrs || !b.samples || !b.sample_ptrs || !b.loc_ids || !b.values ||
	    !b.labels || !b.label_ptrs) {
		err = -ENOMEM;
		goto cleanup;
	}
	perftools__profiles__profile__init(&b.p);
	for (uint32_t i = 0; i < a->nstrs; i++)
		b.strings[i] = (char *)a->strs[i];
	b.strings[extra + S_SAMPLES] = "samples";
	b.strings[extra + S_COUNT] = "count";
	b.strings[extra + S_CPU] = "cpu";
	b.strings[extra + S_WALL] = "wall";
	b.strings[extra + S_NANOSECONDS] = "nanoseconds";
	b.strings[extra + S_THREAD] = "thread";
	b.strings[extra + S_STATE] = "state";
	b.strings[extra + S_OFF_CPU] = "off-cpu";
	b.strings[extra + S_GROUP] = (char *)(m->group_key ? m->group_key : "group");
	b.p.n_string_table = nstr;
	b.p.string_table = b.strings;

	for (int i = 0; i < 2; i++) {
		perftools__profiles__value_type__init(&b.types[i]);
		b.type_ptrs[i] = &b.types[i];
	}
	b.types[0].type = extra + S_SAMPLES;
	b.types[0].unit = extra + S_COUNT;
	b.types[1].type = extra + (m->wall ? S_WALL : S_CPU);
	b.types[1].unit = extra + S_NANOSECONDS;
	b.p.n_sample_type = 2;
	b.p.sample_type = b.type_ptrs;
	perftools__profiles__value_type__init(&b.period_type);
	b.period_type = b.types[1];
	b.p.period_type = &b.period_type;
	b.p.period = m->period_ns;
	b.p.time_nanos = m->time_nanos;
	b.p.duration_nanos = m->duration_nanos;
	b.p.default_sample_type = extra + (m->wall ? S_WALL : S_CPU);

	err = add_functions(&b, a);
	if (err)
		goto cleanup;
	add_locations(&b, a);
	add_samples(&b, a, m);

	*len = perftools__profiles__profile__get_packed_size(&b.p);
	*out = malloc(*len ? *len : 1);
	if (!*out) {
		err = -ENOMEM;
		*len = 0;
		goto cleanup;
	}
	perftools__profiles__profile__pack(&b.p, *out);
cleanup:
	build_free(&b);
	return err;
}

int prof_gzip(const uint8_t *in, size_t len, uint8_t **out, size_t *outlen)
{
	z_stream z = { 0 };
	size_t cap;
	int rc;

	*out = NULL;
	*outlen = 0;
	if (deflateInit2(&z, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY))
		return -ENOMEM;
	cap = deflateBound(&z, len);
	*out = malloc(cap);
	if (!*out) {
		deflateEnd(&z);
		return -ENOMEM;
	}
	z.next_in = (Bytef *)in;
	z.avail_in = (uInt)len;
	z.next_out = *out;
	z.avail_out = (uInt)cap;
	rc = deflate(&z, Z_FINISH);
	*outlen = z.total_out;
	deflateEnd(&z);
	if (rc != Z_STREAM_END) {
		free(*out);
		*out = NULL;
		*outlen = 0;
		return -EIO;
	}
	return 0;
}

int prof_pprof_write(const struct prof_agg *a, const struct prof_meta *m, FILE *f)
{
	uint8_t *pb = NULL, *gz = NULL;
	size_t n, gzn;
	int err = prof_pprof_encode(a, m, &pb, &n);

	if (!err)
		err = prof_gzip(pb, n, &gz, &gzn);
	if (!err && (fwrite(gz, 1, gzn, f) != gzn || fflush(f)))
		err = -EIO;
	free(pb);
	free(gz);
	return err;
}
