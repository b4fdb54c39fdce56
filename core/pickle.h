/*
 * pickle — a small, bounded reader for the pickles torch.save writes for a
 * tensor state dict (the data.pkl inside a PyTorch zip checkpoint).
 *
 * It is not a Python unpickler: it runs no code and builds no objects
 * beyond dicts, lists, tuples, strings, numbers and two things it knows by
 * name -- a storage reference (the persistent id torch.save writes for a
 * storage) and a tensor view of one (torch._utils._rebuild_tensor_v2).
 * Only a fixed allow-list of globals may appear: collections.OrderedDict,
 * torch._utils._rebuild_tensor_v2 / _rebuild_parameter and the storage
 * types torch.{Float,Half,BFloat16,Double,Long,Int,Byte}Storage (and, for
 * a TorchScript module, its __torch__ classes).  Every
 * other opcode or global is refused with a cause naming it ("opcode 0x69
 * INST", "global os.system is not allowed").  Every length, memo index,
 * stack depth and object count is checked before use.
 */
#ifndef CLIPGREP_PICKLE_H
#define CLIPGREP_PICKLE_H

#include <stddef.h>
#include <stdint.h>

#define PICKLE_MAX_DIMS 8

/* The element type of a storage, from its storage type's name. */
typedef enum {
	PICKLE_F32,  /* torch.FloatStorage */
	PICKLE_F16,  /* torch.HalfStorage */
	PICKLE_BF16, /* torch.BFloat16Storage */
	PICKLE_F64,  /* torch.DoubleStorage */
	PICKLE_I64,  /* torch.LongStorage */
	PICKLE_I32,  /* torch.IntStorage */
	PICKLE_U8    /* torch.ByteStorage */
} pickle_dtype;

/* One tensor of the state dict: a strided view into storage `key`. */
typedef struct {
	char *name;                      /* the state dict key, as stored */
	pickle_dtype dtype;
	int ndim;                        /* 0..PICKLE_MAX_DIMS */
	int64_t shape[PICKLE_MAX_DIMS];  /* each >= 0 */
	int64_t stride[PICKLE_MAX_DIMS]; /* in elements, each >= 0 */
	char *key;                       /* the storage's name: archive/data/KEY */
	int64_t offset;                  /* first element within the storage, >= 0 */
	int64_t storage_numel;           /* the storage's element count, as pickled */
} pickle_tensor;

typedef struct pickle_tensors pickle_tensors;

/*
 * Read a state dict pickle of len bytes.  The pickled object must be a
 * dict (an OrderedDict); when it holds a dict under "state_dict", that one
 * is read instead.  Its tensor values become records in the dict's order;
 * other values (numbers, nested dicts) are skipped.  Every record's view
 * is checked against its pickled storage size (offset + extent <=
 * storage_numel).  Returns NULL with *cause naming label and the reason.
 * The result owns copies of every string; buf may go away.
 */
pickle_tensors *pickle_read_tensors(const void *buf, size_t len, const char *label, char **cause);
/*
 * The same for a TorchScript archive's data.pkl (torch.jit.save): the
 * pickled object is a module, built with NEWOBJ and BUILD from a class
 * under __torch__ (no other class is accepted, and nothing is called).
 * Its tensor attributes and its submodules' become records named as
 * state_dict() names them ("visual.conv1.weight"); other attributes are
 * skipped.  torch.jit._pickle's list builders are allowed here too.
 */
pickle_tensors *pickle_read_module(const void *buf, size_t len, const char *label, char **cause);
void pickle_tensors_free(pickle_tensors *p);

size_t pickle_tensors_count(const pickle_tensors *p);
const pickle_tensor *pickle_tensors_at(const pickle_tensors *p, size_t i);

size_t pickle_dtype_size(pickle_dtype t);
const char *pickle_dtype_name(pickle_dtype t);

/* Elements a view reaches: 0 when any dimension is 0, else 1 + sum (shape-1)*stride. */
int64_t pickle_tensor_extent(const pickle_tensor *t);
/* shape's product (1 for 0-d). */
int64_t pickle_tensor_numel(const pickle_tensor *t);

#endif
