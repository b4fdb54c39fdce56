/* block — a CLIP residual block's weights from a model file. */
#include "config.h"

#include "block.h"

int block_load_vectors(model *m, const char *prefix, int dim, int hidden, ops_block_weights *w,
    char **cause)
{
	const char *p = prefix;

	/* Each lookup stops the chain at the first error, which names the tensor. */
	if ((w->ln_1_weight = model_tensor_1d(m, dim, cause, "%sln_1.weight", p)) == NULL ||
	    (w->ln_1_bias = model_tensor_1d(m, dim, cause, "%sln_1.bias", p)) == NULL ||
	    (w->attn.in_proj_bias = model_tensor_1d(m, 3 * (int64_t)dim, cause,
		"%sattn.in_proj_bias", p)) == NULL ||
	    (w->attn.out_proj_bias = model_tensor_1d(m, dim, cause, "%sattn.out_proj.bias", p)) == NULL ||
	    (w->ln_2_weight = model_tensor_1d(m, dim, cause, "%sln_2.weight", p)) == NULL ||
	    (w->ln_2_bias = model_tensor_1d(m, dim, cause, "%sln_2.bias", p)) == NULL ||
	    (w->c_fc_bias = model_tensor_1d(m, hidden, cause, "%smlp.c_fc.bias", p)) == NULL ||
	    (w->c_proj_bias = model_tensor_1d(m, dim, cause, "%smlp.c_proj.bias", p)) == NULL)
		return -1;
	return 0;
}

int block_load(model *m, const char *prefix, int dim, int hidden, ops_block_weights *w,
    char **cause)
{
	const char *p = prefix;

	if (block_load_vectors(m, prefix, dim, hidden, w, cause) == -1 ||
	    (w->attn.in_proj_weight = model_tensor_2d(m, 3 * (int64_t)dim, dim, cause,
		"%sattn.in_proj_weight", p)) == NULL ||
	    (w->attn.out_proj_weight = model_tensor_2d(m, dim, dim, cause,
		"%sattn.out_proj.weight", p)) == NULL ||
	    (w->c_fc_weight = model_tensor_2d(m, hidden, dim, cause, "%smlp.c_fc.weight", p)) == NULL ||
	    (w->c_proj_weight = model_tensor_2d(m, dim, hidden, cause, "%smlp.c_proj.weight", p)) == NULL)
		return -1;
	return 0;
}
