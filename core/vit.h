/*
 * vit — the CLIP image tower (MODELS.md §1.1): a frame, normalised, in; its
 * joint-space embedding (the projected CLS token) out.  Frames are encoded
 * in batches so that every GEMM runs over [batch · tokens, width] rows.
 *
 * All shapes come from the model's configuration: the same code runs
 * ViT-B/32 (width 768, 12 layers, 12 heads, patch 32, image 224, embed 512)
 * and the tiny test models.
 */
#ifndef CLIPGREP_VIT_H
#define CLIPGREP_VIT_H

#include "linear.h"
#include "model.h"

typedef struct vit vit;

/*
 * Read and shape-check every image-tower weight of m (errors name the file
 * and the tensor) and allocate scratch for up to max_batch frames per GEMM
 * pass.  m must outlive the result: the weights stay owned by m.
 */
vit *vit_new(model *m, int max_batch, char **cause);
/*
 * The same with the GEMMs' kernel chosen: a bf16 kernel (LINEAR_BF16,
 * LINEAR_BF16_FMA, LINEAR_BF16_REF; see linear_precision_kernel) packs
 * every GEMM weight as bf16 panels (about 170 MB at ViT-B/32, held by the
 * result) and runs the tower in bf16 precision; any other kernel runs it
 * in fp32 on the BLAS, as vit_new does.  A bf16 tower releases m's fp32
 * copies of the weights it packed (model_tensor_release): build no fp32
 * image tower on m while it exists.
 */
vit *vit_new_kernel(model *m, int max_batch, linear_kernel kernel, char **cause);
/* Safe on NULL and on a half-built tower. */
void vit_free(vit *v);

/*
 * Embed groups of frames: n groups of counts[g] frames (1 to max_batch
 * each), back to back.
 *   frames [Σ counts, 3, S, S]  normalised RGB (preprocess_normalize), S = image size
 *   out    [Σ counts, embed]    the projected CLS tokens, not L2-normalised
 * Every GEMM runs per group (tensor_gemm_groups), so a group's embeddings
 * are bit-identical whatever other groups share the call, how they are cut
 * into max_batch passes, and the thread count: a video encoded as one group
 * stores the same vectors in any batch and any run.  Returns 0, or -1 with
 * *cause.
 */
int vit_encode_groups(vit *v, const float *frames, const int *counts, int n, float *out,
    char **cause);

/*
 * Embed batch frames as consecutive groups of vit_group(v) frames (the last
 * may be shorter), as vit_encode_groups; same shapes.  A frame's embedding
 * depends on its position in the batch only through its group.
 */
int vit_encode(vit *v, const float *frames, int batch, float *out, char **cause);
/*
 * out [embed] = the embedding of an all-zero image in normalised pixel
 * space, as a group of its own: the frame upstream CLIP4Clip and TC-MGC pad
 * a short clip with (MODELS.md §1.4).  It is the same for every video of a
 * tower, so callers compute it once and reuse it.  0 or -1 with *cause.
 */
int vit_encode_blank(vit *v, float *out, char **cause);

/* vit_encode's group: the model's frames per video F, at most max_batch. */
int vit_group(const vit *v);

int vit_image_size(const vit *v); /* S */
int vit_embed_dim(const vit *v);
int vit_max_batch(const vit *v);
/* LINEAR_BLAS (fp32) or the bf16 kernel the tower runs on. */
linear_kernel vit_kernel(const vit *v);

#endif
