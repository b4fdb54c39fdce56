/*
 * fuzz-pickle — libFuzzer target for the state-dict pickle reader
 * (core/pickle.c) and torch.save's zip container (core/torchfile.c), fed
 * the input as a bare data.pkl (a state dict and a TorchScript module) and
 * as a whole checkpoint or TorchScript archive.  A refusal
 * must carry a cause; an accepted file must let every tensor be copied out
 * (the view checks done at open must hold), which ASan watches.
 */
#include "config.h"

#include <stdint.h>
#include <stdlib.h>

#include "pickle.h"
#include "torchfile.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *cause = NULL;
	pickle_tensors *p;
	torchfile *f;

	for (int module = 0; module < 2; module++) {
		p = module ? pickle_read_module(data, size, "fuzz.pkl", &cause) :
		    pickle_read_tensors(data, size, "fuzz.pkl", &cause);
		if (p == NULL) {
			if (cause == NULL)
				abort();
		} else {
			for (size_t i = 0; i < pickle_tensors_count(p); i++) {
				const pickle_tensor *t = pickle_tensors_at(p, i);
				if (t->ndim < 0 || t->ndim > PICKLE_MAX_DIMS || t->offset < 0 ||
				    (pickle_tensor_extent(t) > 0 &&
				    t->offset + pickle_tensor_extent(t) > t->storage_numel))
					abort();
			}
		}
		pickle_tensors_free(p);
		free(cause);
		cause = NULL;
	}

	if ((f = torchfile_open_memory(data, size, "fuzz.bin", &cause)) == NULL) {
		if (cause == NULL)
			abort();
		free(cause);
		return 0;
	}
	for (size_t i = 0; i < torchfile_count(f); i++) {
		const pickle_tensor *t = torchfile_tensor_at(f, i);
		int64_t n = pickle_tensor_numel(t);
		void *buf;
		/* zero strides may expand a small storage enormously; skip those */
		if (n > (1 << 20) || (buf = malloc((size_t)n * pickle_dtype_size(t->dtype) + 1)) == NULL)
			continue;
		torchfile_read(f, i, buf);
		free(buf);
	}
	torchfile_close(f);
	free(cause);
	return 0;
}
