/*
 * block — reading one CLIP residual attention block's weights by their
 * upstream names.  The image tower, the text tower, and later the temporal
 * and cross encoders all store blocks with the same key layout under
 * different prefixes (MODELS.md §4).
 */
#ifndef CLIPGREP_BLOCK_H
#define CLIPGREP_BLOCK_H

#include "model.h"
#include "ops.h"

/*
 * Fill w with the tensors of the block whose names start with prefix
 * (e.g. "clip.visual.transformer.resblocks.3."), each shape-checked:
 * attn.in_proj_weight [3 dim, dim], attn.out_proj.weight [dim, dim],
 * mlp.c_fc.weight [hidden, dim], mlp.c_proj.weight [dim, hidden], their
 * biases, ln_1 and ln_2.  The pointers are owned by m.  Returns 0, or -1
 * with *cause naming the file and the tensor.
 */
int block_load(model *m, const char *prefix, int dim, int hidden, ops_block_weights *w,
    char **cause);
/*
 * The same without the four projection weights (in_proj, out_proj, c_fc,
 * c_proj stay as they are): for a tower that packs those from the file
 * itself (linear_new_tensor).
 */
int block_load_vectors(model *m, const char *prefix, int dim, int hidden, ops_block_weights *w,
    char **cause);

#endif
