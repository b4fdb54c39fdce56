/*
 * torchfile — a PyTorch checkpoint written by torch.save (the zip format
 * of PyTorch >= 1.6): the state dict's tensors, read without Python.
 *
 * The zip (PKWARE APPNOTE; only what torch.save writes is accepted):
 *   ... local file header "PK\3\4" (30 bytes + name + extra) and data,
 *       one per entry: PREFIX/data.pkl, PREFIX/data/KEY per storage,
 *       PREFIX/version (and others, ignored)
 *   central directory: "PK\1\2" (46 bytes + name + extra + comment) per entry
 *   end of central directory "PK\5\6" (22 bytes + comment), preceded by the
 *   zip64 end record and locator ("PK\6\6", "PK\6\7") when sizes need 64 bits
 * data.pkl and the storages must be stored (method 0), as torch.save
 * writes them; a compressed one is refused by name.  A TorchScript archive
 * (torch.jit.save: PREFIX/code/..., PREFIX/constants.pkl, deflated code
 * entries) has the same data.pkl and data/KEY storages, its data.pkl a
 * pickled module (pickle_read_module); its code is never read.  Every offset and size is checked
 * against the file before it is used, and every tensor's view against its
 * storage entry, when the file is opened.
 */
#ifndef CLIPGREP_TORCHFILE_H
#define CLIPGREP_TORCHFILE_H

#include <stddef.h>

#include "pickle.h"

typedef struct torchfile torchfile;

/*
 * Map path, read its zip directory and its data.pkl (pickle.h), and check
 * each tensor against its storage.  Returns NULL with *cause naming the
 * file and the reason; the legacy pre-zip format is refused as such.
 */
torchfile *torchfile_open(const char *path, char **cause);
/* The same over len bytes at buf, which must outlive the result (fuzzing, tests). */
torchfile *torchfile_open_memory(const void *buf, size_t len, const char *label, char **cause);
void torchfile_close(torchfile *f);

/* 1 for a TorchScript archive, whose tensors are its modules' parameters and buffers. */
int torchfile_is_torchscript(const torchfile *f);
size_t torchfile_count(const torchfile *f);
const pickle_tensor *torchfile_tensor_at(const torchfile *f, size_t i);
/*
 * Copy tensor i into dst as a C-contiguous array of pickle_tensor_numel
 * elements of pickle_dtype_size bytes each (little-endian, as stored),
 * following its strides.  Cannot fail once the file is open.
 */
void torchfile_read(const torchfile *f, size_t i, void *dst);

#endif
