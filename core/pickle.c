/*
 * pickle — the bounded state-dict pickle reader (see pickle.h).
 *
 * The machine keeps Python's pickle model -- a value stack with marks and a
 * memo -- over a handful of value kinds.  Values live in one arena freed
 * at the end, so the memo and the stack may share them (torch.save
 * memoises and re-gets storage types and strings) without reference counts,
 * and a cycle (a list appended to itself) is harmless: nothing walks values
 * recursively.
 */
#include "config.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pickle.h"
#include "util.h"

/* Far above what a state dict needs (about 20 values per tensor). */
#define PICKLE_MAX_VALUES (1u << 22)
#define PICKLE_MAX_STACK (1u << 16)
#define PICKLE_MAX_MEMO (1u << 22)
#define PICKLE_MAX_ITEMS (1u << 22)

enum pk_kind {
	PK_MARK, PK_NONE, PK_BOOL, PK_INT, PK_FLOAT, PK_STR, PK_TUPLE, PK_LIST, PK_DICT,
	PK_GLOBAL, PK_STORAGE, PK_TENSOR,
	PK_CLASS,  /* a TorchScript module class (__torch__.*), module mode only */
	PK_OBJECT  /* an instance of one: its attributes as DICT-like key, value pairs */
};

/* The allow-list: what a GLOBAL may name. */
enum pk_global {
	PG_ORDERED_DICT, PG_REBUILD_TENSOR_V2, PG_REBUILD_PARAMETER, PG_STORAGE,
	PG_JIT_LIST  /* torch.jit._pickle's typed-list builders: module mode only */
};

static const struct {
	const char *module, *name;
	enum pk_global what;
	pickle_dtype dtype;
} pk_globals[] = {
	{ "collections", "OrderedDict", PG_ORDERED_DICT, PICKLE_F32 },
	{ "torch._utils", "_rebuild_tensor_v2", PG_REBUILD_TENSOR_V2, PICKLE_F32 },
	{ "torch._utils", "_rebuild_parameter", PG_REBUILD_PARAMETER, PICKLE_F32 },
	{ "torch", "FloatStorage", PG_STORAGE, PICKLE_F32 },
	{ "torch", "HalfStorage", PG_STORAGE, PICKLE_F16 },
	{ "torch", "BFloat16Storage", PG_STORAGE, PICKLE_BF16 },
	{ "torch", "DoubleStorage", PG_STORAGE, PICKLE_F64 },
	{ "torch", "LongStorage", PG_STORAGE, PICKLE_I64 },
	{ "torch", "IntStorage", PG_STORAGE, PICKLE_I32 },
	{ "torch", "ByteStorage", PG_STORAGE, PICKLE_U8 },
	/* TorchScript writes List[int] and friends through these; the value is their argument. */
	{ "torch.jit._pickle", "build_intlist", PG_JIT_LIST, PICKLE_F32 },
	{ "torch.jit._pickle", "build_doublelist", PG_JIT_LIST, PICKLE_F32 },
	{ "torch.jit._pickle", "build_boollist", PG_JIT_LIST, PICKLE_F32 },
	{ "torch.jit._pickle", "build_tensorlist", PG_JIT_LIST, PICKLE_F32 },
	{ "torch.jit._pickle", "build_genericlist", PG_JIT_LIST, PICKLE_F32 },
	{ "torch.jit._pickle", "restore_type_tag", PG_JIT_LIST, PICKLE_F32 },
};

/* How deep TorchScript modules may nest (CLIP's go 6 deep). */
#define PICKLE_MAX_DEPTH 64

struct pk_value {
	enum pk_kind kind;
	int64_t i;                /* INT, BOOL; STORAGE: numel */
	double f;                 /* FLOAT */
	char *s;                  /* STR (NUL-terminated copy); STORAGE: key */
	size_t slen;
	struct pk_value **items;  /* TUPLE, LIST; DICT: key, value pairs */
	size_t n, cap;            /* items used / allocated (DICT: 2 per entry) */
	int global;               /* GLOBAL: index into pk_globals */
	pickle_tensor *t;         /* TENSOR */
	struct pk_value *next;    /* the arena */
};

struct pickle_tensors {
	pickle_tensor *t;
	size_t n;
};

typedef struct {
	const unsigned char *p, *end;
	const char *label;
	char **cause;
	struct pk_value *arena;
	size_t nvalues;
	struct pk_value **stack;
	size_t sp, scap;
	struct pk_value **memo;
	size_t nmemo;        /* allocated memo slots */
	size_t memo_len;     /* slots in use: MEMOIZE's next index, as Python's len(memo) */
	struct pk_value mark;
	int module;          /* reading a TorchScript data.pkl: module objects allowed */
	size_t walked;       /* attributes visited by pk_walk_module */
} pk_machine;

static const struct { unsigned char op; const char *name; } pk_opnames[] = {
	{ 0x28, "MARK" }, { 0x2e, "STOP" }, { 0x30, "POP" }, { 0x31, "POP_MARK" }, { 0x32, "DUP" },
	{ 0x46, "FLOAT" }, { 0x49, "INT" }, { 0x4a, "BININT" }, { 0x4b, "BININT1" }, { 0x4c, "LONG" },
	{ 0x4d, "BININT2" }, { 0x4e, "NONE" }, { 0x50, "PERSID" }, { 0x51, "BINPERSID" },
	{ 0x52, "REDUCE" }, { 0x53, "STRING" }, { 0x54, "BINSTRING" }, { 0x55, "SHORT_BINSTRING" },
	{ 0x56, "UNICODE" }, { 0x58, "BINUNICODE" }, { 0x61, "APPEND" }, { 0x62, "BUILD" },
	{ 0x63, "GLOBAL" }, { 0x64, "DICT" }, { 0x7d, "EMPTY_DICT" }, { 0x65, "APPENDS" },
	{ 0x67, "GET" }, { 0x68, "BINGET" }, { 0x69, "INST" }, { 0x6a, "LONG_BINGET" },
	{ 0x6c, "LIST" }, { 0x5d, "EMPTY_LIST" }, { 0x6f, "OBJ" }, { 0x70, "PUT" }, { 0x71, "BINPUT" },
	{ 0x72, "LONG_BINPUT" }, { 0x73, "SETITEM" }, { 0x74, "TUPLE" }, { 0x29, "EMPTY_TUPLE" },
	{ 0x75, "SETITEMS" }, { 0x47, "BINFLOAT" }, { 0x80, "PROTO" }, { 0x81, "NEWOBJ" },
	{ 0x82, "EXT1" }, { 0x83, "EXT2" }, { 0x84, "EXT4" }, { 0x85, "TUPLE1" }, { 0x86, "TUPLE2" },
	{ 0x87, "TUPLE3" }, { 0x88, "NEWTRUE" }, { 0x89, "NEWFALSE" }, { 0x8a, "LONG1" },
	{ 0x8b, "LONG4" }, { 0x42, "BINBYTES" }, { 0x43, "SHORT_BINBYTES" },
	{ 0x8c, "SHORT_BINUNICODE" }, { 0x8d, "BINUNICODE8" }, { 0x8e, "BINBYTES8" },
	{ 0x8f, "EMPTY_SET" }, { 0x90, "ADDITEMS" }, { 0x91, "FROZENSET" }, { 0x92, "NEWOBJ_EX" },
	{ 0x93, "STACK_GLOBAL" }, { 0x94, "MEMOIZE" }, { 0x95, "FRAME" }, { 0x96, "BYTEARRAY8" },
	{ 0x97, "NEXT_BUFFER" }, { 0x98, "READONLY_BUFFER" },
};

static const char *pk_opname(unsigned char op)
{
	for (size_t i = 0; i < sizeof pk_opnames / sizeof pk_opnames[0]; i++)
		if (pk_opnames[i].op == op)
			return pk_opnames[i].name;
	return "unknown";
}

static size_t pk_offset(const pk_machine *m, const unsigned char *start)
{
	return (size_t)(m->p - start);
}

static int pk_fail(pk_machine *m, const char *fmt, ...) UTIL_PRINTF(2, 3);
static int pk_fail(pk_machine *m, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	util_set_cause(m->cause, "%s: %s", UTIL_NAME(m->label), msg);
	return -1;
}

static struct pk_value *pk_new(pk_machine *m, enum pk_kind kind)
{
	struct pk_value *v;

	if (m->nvalues >= PICKLE_MAX_VALUES) {
		pk_fail(m, "more than %u pickled objects", PICKLE_MAX_VALUES);
		return NULL;
	}
	if ((v = calloc(1, sizeof *v)) == NULL) {
		pk_fail(m, "out of memory");
		return NULL;
	}
	v->kind = kind;
	v->next = m->arena;
	m->arena = v;
	m->nvalues++;
	return v;
}

static void pk_arena_free(pk_machine *m)
{
	struct pk_value *v, *next;

	for (v = m->arena; v != NULL; v = next) {
		next = v->next;
		free(v->s);
		free(v->items);
		if (v->t != NULL) {
			free(v->t->name);
			free(v->t->key);
			free(v->t);
		}
		free(v);
	}
	m->arena = NULL;
}

static int pk_push(pk_machine *m, struct pk_value *v)
{
	if (v == NULL)
		return -1;
	if (m->sp == m->scap) {
		size_t cap = m->scap ? m->scap * 2 : 64;
		struct pk_value **s;
		if (m->sp >= PICKLE_MAX_STACK)
			return pk_fail(m, "stack deeper than %u", PICKLE_MAX_STACK);
		if ((s = realloc(m->stack, cap * sizeof *s)) == NULL)
			return pk_fail(m, "out of memory");
		m->stack = s;
		m->scap = cap;
	}
	m->stack[m->sp++] = v;
	return 0;
}

/* Pop one value that is not a mark. */
static struct pk_value *pk_pop(pk_machine *m, const char *op)
{
	if (m->sp == 0 || m->stack[m->sp - 1]->kind == PK_MARK) {
		pk_fail(m, "%s on an empty stack", op);
		return NULL;
	}
	return m->stack[--m->sp];
}

static struct pk_value *pk_top(pk_machine *m, const char *op)
{
	if (m->sp == 0 || m->stack[m->sp - 1]->kind == PK_MARK) {
		pk_fail(m, "%s on an empty stack", op);
		return NULL;
	}
	return m->stack[m->sp - 1];
}

/* Index of the topmost mark, or -1 with a cause. */
static long pk_find_mark(pk_machine *m, const char *op)
{
	for (size_t i = m->sp; i > 0; i--)
		if (m->stack[i - 1]->kind == PK_MARK)
			return (long)(i - 1);
	pk_fail(m, "%s without a MARK", op);
	return -1;
}

static int pk_add_item(pk_machine *m, struct pk_value *c, struct pk_value *v)
{
	if (c->n == c->cap) {
		size_t cap = c->cap ? c->cap * 2 : 4;
		struct pk_value **items;
		if (c->n >= PICKLE_MAX_ITEMS)
			return pk_fail(m, "a container with more than %u items", PICKLE_MAX_ITEMS);
		if ((items = realloc(c->items, cap * sizeof *items)) == NULL)
			return pk_fail(m, "out of memory");
		c->items = items;
		c->cap = cap;
	}
	c->items[c->n++] = v;
	return 0;
}

static int pk_need(pk_machine *m, size_t n, const char *op)
{
	if ((size_t)(m->end - m->p) < n)
		return pk_fail(m, "%s runs past the end of the pickle", op);
	return 0;
}

static uint64_t pk_le(const unsigned char *p, int n)
{
	uint64_t v = 0;

	for (int i = n - 1; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

static struct pk_value *pk_int(pk_machine *m, int64_t i)
{
	struct pk_value *v = pk_new(m, PK_INT);

	if (v != NULL)
		v->i = i;
	return v;
}

static struct pk_value *pk_str(pk_machine *m, const unsigned char *s, size_t n)
{
	struct pk_value *v;

	if (memchr(s, '\0', n) != NULL) {
		pk_fail(m, "a string with a NUL byte");
		return NULL;
	}
	if ((v = pk_new(m, PK_STR)) == NULL)
		return NULL;
	if ((v->s = malloc(n + 1)) == NULL) {
		pk_fail(m, "out of memory");
		return NULL;
	}
	memcpy(v->s, s, n);
	v->s[n] = '\0';
	v->slen = n;
	return v;
}

static int pk_global(pk_machine *m, const char *module, size_t mlen, const char *name, size_t nlen)
{
	struct pk_value *v;

	/*
	 * A TorchScript module's class lives under __torch__; only NEWOBJ and
	 * BUILD may use it, which make an attribute holder, never a call.
	 */
	if (m->module && mlen >= 9 && memcmp(module, "__torch__", 9) == 0 &&
	    (mlen == 9 || module[9] == '.'))
		return pk_push(m, pk_new(m, PK_CLASS));
	for (size_t i = 0; i < sizeof pk_globals / sizeof pk_globals[0]; i++) {
		if (pk_globals[i].what == PG_JIT_LIST && !m->module)
			continue;
		if (strlen(pk_globals[i].module) == mlen && memcmp(pk_globals[i].module, module, mlen) == 0 &&
		    strlen(pk_globals[i].name) == nlen && memcmp(pk_globals[i].name, name, nlen) == 0) {
			if ((v = pk_new(m, PK_GLOBAL)) == NULL)
				return -1;
			v->global = (int)i;
			return pk_push(m, v);
		}
	}
	/* Cap what is quoted: the names come from the file. */
	return pk_fail(m, "global %.*s.%.*s is not allowed (a state dict of tensors needs only "
	    "collections.OrderedDict, torch._utils._rebuild_tensor_v2 and torch.*Storage)",
	    (int)(mlen < 100 ? mlen : 100), module, (int)(nlen < 100 ? nlen : 100), name);
}

/* _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks[, metadata]) */
static struct pk_value *pk_rebuild_tensor(pk_machine *m, struct pk_value *args)
{
	struct pk_value *st, *off, *size, *stride, *v;
	pickle_tensor *t;

	if (args->n < 4 || args->n > 7) {
		pk_fail(m, "_rebuild_tensor_v2 with %zu arguments", args->n);
		return NULL;
	}
	st = args->items[0], off = args->items[1], size = args->items[2], stride = args->items[3];
	if (st->kind != PK_STORAGE || off->kind != PK_INT || size->kind != PK_TUPLE ||
	    stride->kind != PK_TUPLE) {
		pk_fail(m, "_rebuild_tensor_v2 arguments are not (storage, offset, size, stride)");
		return NULL;
	}
	if (size->n > PICKLE_MAX_DIMS || stride->n != size->n) {
		pk_fail(m, "a tensor with %zu sizes and %zu strides (at most %d)", size->n, stride->n,
		    PICKLE_MAX_DIMS);
		return NULL;
	}
	if (off->i < 0 || off->i > st->i) {
		pk_fail(m, "storage offset %lld outside storage %s of %lld elements",
		    (long long)off->i, st->s, (long long)st->i);
		return NULL;
	}
	if ((v = pk_new(m, PK_TENSOR)) == NULL)
		return NULL;
	if ((t = v->t = calloc(1, sizeof *t)) == NULL || (t->key = util_strdup(st->s)) == NULL) {
		pk_fail(m, "out of memory");
		return NULL;
	}
	t->dtype = (pickle_dtype)st->global;
	t->ndim = (int)size->n;
	t->offset = off->i;
	t->storage_numel = st->i;
	for (int d = 0; d < t->ndim; d++) {
		if (size->items[d]->kind != PK_INT || stride->items[d]->kind != PK_INT ||
		    size->items[d]->i < 0 || stride->items[d]->i < 0 ||
		    size->items[d]->i > INT64_MAX / 4 || stride->items[d]->i > INT64_MAX / 4) {
			pk_fail(m, "tensor on storage %s: bad size or stride in dimension %d", st->s, d);
			return NULL;
		}
		t->shape[d] = size->items[d]->i;
		t->stride[d] = stride->items[d]->i;
	}
	/* A zero stride may repeat elements; bound the copy the view expands to. */
	{
		int64_t numel = 1;
		for (int d = 0; d < t->ndim; d++) {
			if (t->shape[d] != 0 && numel > (INT64_C(1) << 40) / t->shape[d]) {
				pk_fail(m, "tensor on storage %s has more than 2^40 elements", st->s);
				return NULL;
			}
			numel *= t->shape[d];
		}
	}
	/* The extent, without overflow: each term is checked against what is left. */
	{
		int64_t left = st->i - t->offset, any0 = 0;
		for (int d = 0; d < t->ndim; d++)
			any0 |= t->shape[d] == 0;
		if (!any0) {
			if (left < 1) {
				pk_fail(m, "tensor on storage %s: offset %lld at the end of %lld elements",
				    st->s, (long long)t->offset, (long long)st->i);
				return NULL;
			}
			left -= 1;
			for (int d = 0; d < t->ndim; d++) {
				int64_t k = t->shape[d] - 1;
				if (k > 0 && t->stride[d] > 0 && (k > left / t->stride[d] ||
				    (left -= k * t->stride[d]) < 0)) {
					pk_fail(m, "tensor on storage %s reaches past its %lld elements",
					    st->s, (long long)st->i);
					return NULL;
				}
			}
		}
	}
	return v;
}

/* A persistent id: ('storage', StorageType, key, location, numel). */
static struct pk_value *pk_persid(pk_machine *m, struct pk_value *pid)
{
	struct pk_value *v, **it = pid->items;

	if (pid->kind != PK_TUPLE || pid->n != 5 || it[0]->kind != PK_STR ||
	    strcmp(it[0]->s, "storage") != 0 || it[1]->kind != PK_GLOBAL ||
	    pk_globals[it[1]->global].what != PG_STORAGE || it[2]->kind != PK_STR ||
	    it[4]->kind != PK_INT || it[4]->i < 0) {
		pk_fail(m, "BINPERSID: not a ('storage', torch.*Storage, key, location, numel) tuple");
		return NULL;
	}
	if (it[2]->slen == 0 || it[2]->slen > 64 || strchr(it[2]->s, '/') != NULL ||
	    strcmp(it[2]->s, "..") == 0 || strcmp(it[2]->s, ".") == 0) {
		pk_fail(m, "BINPERSID: bad storage key");
		return NULL;
	}
	if ((v = pk_new(m, PK_STORAGE)) == NULL || (v->s = util_strdup(it[2]->s)) == NULL) {
		if (v != NULL)
			pk_fail(m, "out of memory");
		return NULL;
	}
	v->slen = it[2]->slen;
	v->i = it[4]->i;
	/* `global` carries the dtype for a storage. */
	v->global = (int)pk_globals[it[1]->global].dtype;
	return v;
}

static int pk_reduce(pk_machine *m)
{
	struct pk_value *args, *fn, *v;

	if ((args = pk_pop(m, "REDUCE")) == NULL || (fn = pk_pop(m, "REDUCE")) == NULL)
		return -1;
	if (fn->kind != PK_GLOBAL)
		return pk_fail(m, "REDUCE of something not callable");
	if (args->kind != PK_TUPLE)
		return pk_fail(m, "REDUCE with arguments that are not a tuple");
	switch (pk_globals[fn->global].what) {
	case PG_ORDERED_DICT:
		if (args->n != 0)
			return pk_fail(m, "collections.OrderedDict with arguments");
		return pk_push(m, pk_new(m, PK_DICT));
	case PG_REBUILD_TENSOR_V2:
		return pk_push(m, pk_rebuild_tensor(m, args));
	case PG_REBUILD_PARAMETER:
		/* _rebuild_parameter(data, requires_grad, hooks): the tensor itself */
		if (args->n != 3 || args->items[0]->kind != PK_TENSOR)
			return pk_fail(m, "_rebuild_parameter arguments are not (tensor, bool, hooks)");
		return pk_push(m, args->items[0]);
	case PG_JIT_LIST:
		if (args->n != 1)
			return pk_fail(m, "%s.%s with %zu arguments", pk_globals[fn->global].module,
			    pk_globals[fn->global].name, args->n);
		return pk_push(m, args->items[0]);
	case PG_STORAGE:
		break;
	}
	v = fn;
	return pk_fail(m, "REDUCE of %s.%s", pk_globals[v->global].module, pk_globals[v->global].name);
}

static int pk_memo_put(pk_machine *m, uint64_t i)
{
	struct pk_value *top = pk_top(m, "PUT");

	if (top == NULL)
		return -1;
	if (i >= PICKLE_MAX_MEMO)
		return pk_fail(m, "memo index %llu beyond %u", (unsigned long long)i, PICKLE_MAX_MEMO);
	if (i >= m->nmemo) {
		size_t n = m->nmemo ? m->nmemo : 64;
		struct pk_value **memo;
		while (n <= i)
			n *= 2;
		if ((memo = realloc(m->memo, n * sizeof *memo)) == NULL)
			return pk_fail(m, "out of memory");
		memset(memo + m->nmemo, 0, (n - m->nmemo) * sizeof *memo);
		m->memo = memo;
		m->nmemo = n;
	}
	if (m->memo[i] == NULL)
		m->memo_len++;
	m->memo[i] = top;
	return 0;
}

static int pk_memo_get(pk_machine *m, uint64_t i)
{
	if (i >= m->nmemo || m->memo[i] == NULL)
		return pk_fail(m, "memo index %llu never stored", (unsigned long long)i);
	return pk_push(m, m->memo[i]);
}

/* Pop the items above the topmost mark into container c (or a new tuple). */
static struct pk_value *pk_pop_mark(pk_machine *m, const char *op, long *markp)
{
	long mark = pk_find_mark(m, op);
	struct pk_value *t;

	if (mark < 0 || (t = pk_new(m, PK_TUPLE)) == NULL)
		return NULL;
	for (size_t i = (size_t)mark + 1; i < m->sp; i++)
		if (pk_add_item(m, t, m->stack[i]) < 0)
			return NULL;
	m->sp = (size_t)mark;
	if (markp != NULL)
		*markp = mark;
	return t;
}

static int pk_setitems(pk_machine *m, struct pk_value *d, struct pk_value *kv, const char *op)
{
	if (d->kind != PK_DICT)
		return pk_fail(m, "%s on something not a dict", op);
	if (kv->n % 2 != 0)
		return pk_fail(m, "%s with an odd number of items", op);
	for (size_t i = 0; i < kv->n; i++)
		if (pk_add_item(m, d, kv->items[i]) < 0)
			return -1;
	return 0;
}

static int pk_run(pk_machine *m, struct pk_value **result)
{
	const unsigned char *start = m->p;
	struct pk_value *v, *w, *t;
	unsigned char op;
	uint64_t n;
	int k;

	while (m->p < m->end) {
		op = *m->p++;
		switch (op) {
		case 0x80: /* PROTO */
			if (pk_need(m, 1, "PROTO") < 0)
				return -1;
			if (*m->p < 2 || *m->p > 5)
				return pk_fail(m, "pickle protocol %d (torch.save writes 2)", *m->p);
			m->p++;
			break;
		case 0x95: /* FRAME: a length hint; the bytes follow in line */
			if (pk_need(m, 8, "FRAME") < 0)
				return -1;
			m->p += 8;
			break;
		case 0x2e: /* STOP */
			if (m->sp != 1 || m->stack[0]->kind == PK_MARK)
				return pk_fail(m, "STOP with %zu values on the stack", m->sp);
			*result = m->stack[0];
			return 0;
		case 0x28: /* MARK */
			if (pk_push(m, &m->mark) < 0)
				return -1;
			break;
		case 0x7d: /* EMPTY_DICT */
			if (pk_push(m, pk_new(m, PK_DICT)) < 0)
				return -1;
			break;
		case 0x5d: /* EMPTY_LIST */
			if (pk_push(m, pk_new(m, PK_LIST)) < 0)
				return -1;
			break;
		case 0x29: /* EMPTY_TUPLE */
			if (pk_push(m, pk_new(m, PK_TUPLE)) < 0)
				return -1;
			break;
		case 0x4e: /* NONE */
			if (pk_push(m, pk_new(m, PK_NONE)) < 0)
				return -1;
			break;
		case 0x88: /* NEWTRUE */
		case 0x89: /* NEWFALSE */
			if ((v = pk_new(m, PK_BOOL)) == NULL)
				return -1;
			v->i = op == 0x88;
			if (pk_push(m, v) < 0)
				return -1;
			break;
		case 0x4a: /* BININT */
			if (pk_need(m, 4, "BININT") < 0)
				return -1;
			n = pk_le(m->p, 4);
			m->p += 4;
			if (pk_push(m, pk_int(m, (int32_t)(uint32_t)n)) < 0)
				return -1;
			break;
		case 0x4b: /* BININT1 */
		case 0x4d: /* BININT2 */
			k = op == 0x4b ? 1 : 2;
			if (pk_need(m, (size_t)k, pk_opname(op)) < 0)
				return -1;
			n = pk_le(m->p, k);
			m->p += k;
			if (pk_push(m, pk_int(m, (int64_t)n)) < 0)
				return -1;
			break;
		case 0x8a: /* LONG1: n bytes of little-endian two's complement */
			if (pk_need(m, 1, "LONG1") < 0)
				return -1;
			k = *m->p++;
			if (k > 8)
				return pk_fail(m, "LONG1 of %d bytes (at most 8)", k);
			if (pk_need(m, (size_t)k, "LONG1") < 0)
				return -1;
			n = pk_le(m->p, k);
			if (k > 0 && k < 8 && (m->p[k - 1] & 0x80))
				n |= ~(uint64_t)0 << (8 * k);
			m->p += k;
			if (pk_push(m, pk_int(m, (int64_t)n)) < 0)
				return -1;
			break;
		case 0x47: /* BINFLOAT: big-endian double */
			if (pk_need(m, 8, "BINFLOAT") < 0)
				return -1;
			n = 0;
			for (k = 0; k < 8; k++)
				n = n << 8 | m->p[k];
			m->p += 8;
			if ((v = pk_new(m, PK_FLOAT)) == NULL)
				return -1;
			memcpy(&v->f, &n, sizeof v->f);
			if (pk_push(m, v) < 0)
				return -1;
			break;
		case 0x58: /* BINUNICODE */
		case 0x8c: /* SHORT_BINUNICODE */
		case 0x8d: /* BINUNICODE8 */
			k = op == 0x58 ? 4 : op == 0x8c ? 1 : 8;
			if (pk_need(m, (size_t)k, pk_opname(op)) < 0)
				return -1;
			n = pk_le(m->p, k);
			m->p += k;
			if (n > (uint64_t)(m->end - m->p))
				return pk_fail(m, "%s of %llu bytes runs past the end of the pickle",
				    pk_opname(op), (unsigned long long)n);
			if (pk_push(m, pk_str(m, m->p, (size_t)n)) < 0)
				return -1;
			m->p += n;
			break;
		case 0x63: { /* GLOBAL: "module\nname\n" */
			const unsigned char *mod = m->p, *nl1, *nl2;
			size_t left = (size_t)(m->end - m->p), cap = left < 256 ? left : 256;
			if ((nl1 = memchr(mod, '\n', cap)) == NULL)
				return pk_fail(m, "GLOBAL without a module line");
			left = (size_t)(m->end - (nl1 + 1));
			cap = left < 256 ? left : 256;
			if ((nl2 = memchr(nl1 + 1, '\n', cap)) == NULL)
				return pk_fail(m, "GLOBAL without a name line");
			m->p = nl2 + 1;
			if (pk_global(m, (const char *)mod, (size_t)(nl1 - mod), (const char *)nl1 + 1,
			    (size_t)(nl2 - nl1 - 1)) < 0)
				return -1;
			break;
		}
		case 0x93: /* STACK_GLOBAL */
			if ((w = pk_pop(m, "STACK_GLOBAL")) == NULL || (v = pk_pop(m, "STACK_GLOBAL")) == NULL)
				return -1;
			if (v->kind != PK_STR || w->kind != PK_STR)
				return pk_fail(m, "STACK_GLOBAL of something not two strings");
			if (pk_global(m, v->s, v->slen, w->s, w->slen) < 0)
				return -1;
			break;
		case 0x52: /* REDUCE */
			if (pk_reduce(m) < 0)
				return -1;
			break;
		case 0x62: /* BUILD: OrderedDict's __dict__ (_metadata), dropped; a module's attributes */
			if ((w = pk_pop(m, "BUILD")) == NULL || (v = pk_top(m, "BUILD")) == NULL)
				return -1;
			if (v->kind == PK_OBJECT) {
				if (w->kind != PK_DICT || v->n != 0)
					return pk_fail(m, "BUILD of a module with a state that is not a dict");
				for (size_t i = 0; i < w->n; i++)
					if (pk_add_item(m, v, w->items[i]) < 0)
						return -1;
				break;
			}
			if (v->kind != PK_DICT)
				return pk_fail(m, "BUILD on something not a dict");
			break;
		case 0x81: /* NEWOBJ: cls.__new__(cls), for a TorchScript module class only */
			if ((w = pk_pop(m, "NEWOBJ")) == NULL || (v = pk_pop(m, "NEWOBJ")) == NULL)
				return -1;
			if (v->kind != PK_CLASS || w->kind != PK_TUPLE || w->n != 0)
				return pk_fail(m, "NEWOBJ of something not a TorchScript module");
			if (pk_push(m, pk_new(m, PK_OBJECT)) < 0)
				return -1;
			break;
		case 0x51: /* BINPERSID */
			if ((v = pk_pop(m, "BINPERSID")) == NULL)
				return -1;
			if (pk_push(m, pk_persid(m, v)) < 0)
				return -1;
			break;
		case 0x71: /* BINPUT */
		case 0x72: /* LONG_BINPUT */
			k = op == 0x71 ? 1 : 4;
			if (pk_need(m, (size_t)k, pk_opname(op)) < 0)
				return -1;
			n = pk_le(m->p, k);
			m->p += k;
			if (pk_memo_put(m, n) < 0)
				return -1;
			break;
		case 0x94: /* MEMOIZE */
			if (pk_memo_put(m, m->memo_len) < 0)
				return -1;
			break;
		case 0x68: /* BINGET */
		case 0x6a: /* LONG_BINGET */
			k = op == 0x68 ? 1 : 4;
			if (pk_need(m, (size_t)k, pk_opname(op)) < 0)
				return -1;
			n = pk_le(m->p, k);
			m->p += k;
			if (pk_memo_get(m, n) < 0)
				return -1;
			break;
		case 0x74: /* TUPLE */
			if (pk_push(m, pk_pop_mark(m, "TUPLE", NULL)) < 0)
				return -1;
			break;
		case 0x85: /* TUPLE1 */
		case 0x86: /* TUPLE2 */
		case 0x87: /* TUPLE3 */
			k = op - 0x84;
			if (m->sp < (size_t)k)
				return pk_fail(m, "%s on a stack of %zu", pk_opname(op), m->sp);
			if ((t = pk_new(m, PK_TUPLE)) == NULL)
				return -1;
			for (size_t i = m->sp - (size_t)k; i < m->sp; i++) {
				if (m->stack[i]->kind == PK_MARK)
					return pk_fail(m, "%s over a MARK", pk_opname(op));
				if (pk_add_item(m, t, m->stack[i]) < 0)
					return -1;
			}
			m->sp -= (size_t)k;
			if (pk_push(m, t) < 0)
				return -1;
			break;
		case 0x73: /* SETITEM */
			if ((w = pk_pop(m, "SETITEM")) == NULL || (v = pk_pop(m, "SETITEM")) == NULL ||
			    (t = pk_top(m, "SETITEM")) == NULL)
				return -1;
			if (t->kind != PK_DICT)
				return pk_fail(m, "SETITEM on something not a dict");
			if (pk_add_item(m, t, v) < 0 || pk_add_item(m, t, w) < 0)
				return -1;
			break;
		case 0x75: /* SETITEMS */
			if ((t = pk_pop_mark(m, "SETITEMS", NULL)) == NULL || (v = pk_top(m, "SETITEMS")) == NULL)
				return -1;
			if (pk_setitems(m, v, t, "SETITEMS") < 0)
				return -1;
			break;
		case 0x61: /* APPEND */
			if ((w = pk_pop(m, "APPEND")) == NULL || (v = pk_top(m, "APPEND")) == NULL)
				return -1;
			if (v->kind != PK_LIST)
				return pk_fail(m, "APPEND on something not a list");
			if (pk_add_item(m, v, w) < 0)
				return -1;
			break;
		case 0x65: /* APPENDS */
			if ((t = pk_pop_mark(m, "APPENDS", NULL)) == NULL || (v = pk_top(m, "APPENDS")) == NULL)
				return -1;
			if (v->kind != PK_LIST)
				return pk_fail(m, "APPENDS on something not a list");
			for (size_t i = 0; i < t->n; i++)
				if (pk_add_item(m, v, t->items[i]) < 0)
					return -1;
			break;
		case 0x30: /* POP */
			if (m->sp == 0)
				return pk_fail(m, "POP on an empty stack");
			m->sp--;
			break;
		case 0x31: /* POP_MARK */
			if (pk_pop_mark(m, "POP_MARK", NULL) == NULL)
				return -1;
			break;
		case 0x32: /* DUP */
			if ((v = pk_top(m, "DUP")) == NULL || pk_push(m, v) < 0)
				return -1;
			break;
		default:
			m->p--;
			return pk_fail(m, "opcode 0x%02x %s at byte %zu is not allowed in a state dict",
			    op, pk_opname(op), pk_offset(m, start));
		}
	}
	return pk_fail(m, "no STOP: the pickle is truncated");
}

/* The state dict inside the result: the dict itself or its "state_dict". */
static struct pk_value *pk_state_dict(struct pk_value *root)
{
	if (root->kind != PK_DICT)
		return NULL;
	for (size_t i = 0; i + 1 < root->n; i += 2)
		if (root->items[i]->kind == PK_STR && strcmp(root->items[i]->s, "state_dict") == 0 &&
		    root->items[i + 1]->kind == PK_DICT)
			return root->items[i + 1];
	return root;
}

/* Append tensor v under name (a copy of both). */
static int pk_emit(pk_machine *m, pickle_tensors *p, size_t *cap, const char *name,
    const struct pk_value *v)
{
	if (p->n == *cap) {
		size_t n = *cap ? *cap * 2 : 64;
		pickle_tensor *t;
		if (p->n >= PICKLE_MAX_ITEMS)
			return pk_fail(m, "more than %u tensors", PICKLE_MAX_ITEMS);
		if ((t = realloc(p->t, n * sizeof *t)) == NULL)
			return pk_fail(m, "out of memory");
		p->t = t;
		*cap = n;
	}
	p->t[p->n] = *v->t;
	p->t[p->n].name = util_strdup(name);
	p->t[p->n].key = util_strdup(v->t->key);
	if (p->t[p->n].name == NULL || p->t[p->n].key == NULL) {
		free(p->t[p->n].name);
		free(p->t[p->n].key);
		return pk_fail(m, "out of memory");
	}
	p->n++;
	return 0;
}

/*
 * A TorchScript module's tensors, as its state_dict() names them: each
 * tensor attribute under PREFIX.NAME, each submodule's under PREFIX.NAME.
 * (torch.jit.trace keeps only parameters and buffers as attributes; other
 * tensors become constants, in constants.pkl.)  Depth is bounded, which
 * also ends a module that contains itself.
 */
static int pk_walk_module(pk_machine *m, const struct pk_value *obj, const char *prefix, int depth,
    pickle_tensors *p, size_t *cap)
{
	if (depth > PICKLE_MAX_DEPTH)
		return pk_fail(m, "modules nested more than %d deep", PICKLE_MAX_DEPTH);
	for (size_t i = 0; i + 1 < obj->n; i += 2) {
		const struct pk_value *k = obj->items[i], *v = obj->items[i + 1];
		char *name;
		int rc = 0;

		if (v->kind != PK_TENSOR && v->kind != PK_OBJECT)
			continue;
		/* A module shared by reference is walked each time; bound the total. */
		if (++m->walked > PICKLE_MAX_VALUES)
			return pk_fail(m, "modules with more than %u attributes in all", PICKLE_MAX_VALUES);
		if (k->kind != PK_STR)
			return pk_fail(m, "a module attribute whose name is not a string");
		if (strlen(prefix) + k->slen > 4096)
			return pk_fail(m, "a module attribute name longer than 4096 bytes");
		if ((name = malloc(strlen(prefix) + k->slen + 2)) == NULL)
			return pk_fail(m, "out of memory");
		sprintf(name, "%s%s%s", prefix, *prefix ? "." : "", k->s);
		if (v->kind == PK_TENSOR)
			rc = pk_emit(m, p, cap, name, v);
		else
			rc = pk_walk_module(m, v, name, depth + 1, p, cap);
		free(name);
		if (rc < 0)
			return -1;
	}
	return 0;
}

static pickle_tensors *pk_read(const void *buf, size_t len, const char *label, int module,
    char **cause)
{
	pk_machine m;
	struct pk_value *root = NULL, *d;
	pickle_tensors *p = NULL;
	size_t cap = 0;

	memset(&m, 0, sizeof m);
	m.p = buf;
	m.end = m.p + len;
	m.label = label;
	m.cause = cause;
	m.mark.kind = PK_MARK;
	m.module = module;
	if (pk_run(&m, &root) < 0)
		goto out;
	if ((p = calloc(1, sizeof *p)) == NULL) {
		pk_fail(&m, "out of memory");
		goto out;
	}
	if (module) {
		if (root->kind != PK_OBJECT) {
			pk_fail(&m, "the pickled object is not a TorchScript module");
			goto fail;
		}
		if (pk_walk_module(&m, root, "", 0, p, &cap) < 0)
			goto fail;
		goto out;
	}
	if ((d = pk_state_dict(root)) == NULL) {
		pk_fail(&m, "the pickled object is not a dict of tensors");
		goto fail;
	}
	for (size_t i = 0; i + 1 < d->n; i += 2) {
		struct pk_value *k = d->items[i], *v = d->items[i + 1];
		if (v->kind != PK_TENSOR)
			continue;
		if (k->kind != PK_STR) {
			pk_fail(&m, "a tensor under a key that is not a string");
			goto fail;
		}
		if (pk_emit(&m, p, &cap, k->s, v) < 0)
			goto fail;
	}
	goto out;
fail:
	pickle_tensors_free(p);
	p = NULL;
out:
	pk_arena_free(&m);
	free(m.stack);
	free(m.memo);
	return p;
}

pickle_tensors *pickle_read_tensors(const void *buf, size_t len, const char *label, char **cause)
{
	return pk_read(buf, len, label, 0, cause);
}

pickle_tensors *pickle_read_module(const void *buf, size_t len, const char *label, char **cause)
{
	return pk_read(buf, len, label, 1, cause);
}

void pickle_tensors_free(pickle_tensors *p)
{
	if (p == NULL)
		return;
	for (size_t i = 0; i < p->n; i++) {
		free(p->t[i].name);
		free(p->t[i].key);
	}
	free(p->t);
	free(p);
}

size_t pickle_tensors_count(const pickle_tensors *p)
{
	return p->n;
}

const pickle_tensor *pickle_tensors_at(const pickle_tensors *p, size_t i)
{
	return i < p->n ? &p->t[i] : NULL;
}

size_t pickle_dtype_size(pickle_dtype t)
{
	static const size_t size[] = { 4, 2, 2, 8, 8, 4, 1 };

	return (size_t)t < sizeof size / sizeof size[0] ? size[t] : 0;
}

const char *pickle_dtype_name(pickle_dtype t)
{
	static const char *const name[] = { "float32", "float16", "bfloat16", "float64", "int64",
		"int32", "uint8" };

	return (size_t)t < sizeof name / sizeof name[0] ? name[t] : "unknown";
}

int64_t pickle_tensor_extent(const pickle_tensor *t)
{
	int64_t e = 1;

	for (int d = 0; d < t->ndim; d++)
		if (t->shape[d] == 0)
			return 0;
	for (int d = 0; d < t->ndim; d++)
		e += (t->shape[d] - 1) * t->stride[d];
	return e;
}

int64_t pickle_tensor_numel(const pickle_tensor *t)
{
	int64_t n = 1;

	for (int d = 0; d < t->ndim; d++)
		n *= t->shape[d];
	return n;
}
