/*
 * preprocess — turn a decoded RGB frame into what CLIP's image tower eats,
 * exactly as the reference pipeline does it (MODELS.md §1.4):
 *
 *   torchvision Resize(S, BICUBIC) on a PIL image   (short side to S)
 *   CenterCrop(S)                                   (top = round((h - S) / 2))
 *   ToTensor + Normalize(CLIP mean, CLIP std)       ([3, S, S] floats)
 *
 * The resize reproduces Pillow's ImagingResample for 8-bit RGB bit for bit:
 * a separable convolution with the a = -0.5 cubic whose support grows with
 * the downscale factor (antialiasing), coefficients rounded to 22-bit fixed
 * point, horizontal pass first with the intermediate clipped to uint8.
 * swscale's bicubic is a different filter, so it is not used here.
 *
 * No FFmpeg in this file: core/video.c hands it RGB24 pixels.  Images are
 * addressed through a preprocess_view so that a rotated or flipped frame
 * (display-matrix metadata) is read in display orientation without a copy.
 */
#ifndef CLIPGREP_PREPROCESS_H
#define CLIPGREP_PREPROCESS_H

#include <stddef.h>
#include <stdint.h>

/* CLIP's normalisation constants (RGB). */
extern const float preprocess_clip_mean[3];
extern const float preprocess_clip_std[3];

/*
 * A read-only RGB24 image as displayed: pixel (x, y), 0 <= x < width,
 * 0 <= y < height, has its three bytes at origin + x * xstep + y * ystep.
 * An upright image stored row by row has xstep 3 and ystep its row stride;
 * other steps express the eight rotations/flips.
 */
typedef struct {
	const uint8_t *origin;
	ptrdiff_t xstep, ystep;
	int width, height;
} preprocess_view;

/* An upright view of rgb [height, stride] (stride in bytes, >= 3 * width). */
preprocess_view preprocess_view_rgb(const uint8_t *rgb, int width, int height, size_t stride);

/*
 * The view of that stored image shown after an orientation: swap (the
 * displayed x runs along the stored y axis: a 90 or 270 degree rotation or
 * a transpose), then flip_x / flip_y reverse the displayed axes.
 *   clockwise 90:        swap, flip_x        counter-clockwise 90: swap, flip_y
 *   180:                 flip_x, flip_y      transpose:            swap
 */
preprocess_view preprocess_view_oriented(const uint8_t *rgb, int width, int height,
    size_t stride, int swap, int flip_x, int flip_y);

/*
 * The largest side preprocess handles, in and out: beyond it Pillow's
 * coefficient tables would not fit an int.
 */
#define PREPROCESS_MAX_SIDE (1 << 20)

/*
 * Sample aspect ratios past PREPROCESS_MAX_SAR (either way), or that would
 * stretch a side past the caller's max_side, are damaged or hostile
 * metadata, not anamorphic video (H.264's and HEVC's fixed ratios stop at
 * 2:1): such a picture is shown with square pixels.
 */
#define PREPROCESS_MAX_SAR 16

/*
 * Display size of a stored width x height picture (both >= 1) whose pixels
 * have aspect sar_num:sar_den: one side stretched, never shrunk, the way
 * players do.  An unknown or non-positive ratio is square.  Returns 1 when
 * the ratio was absurd (above) and square pixels were used, else 0; either
 * way *dw and *dh are in [1, max(width, height, max_side)].
 */
int preprocess_display_size(int width, int height, int sar_num, int sar_den, int max_side,
    int *dw, int *dh);

/*
 * torchvision Resize(S) output size for an image displayed at width x
 * height: the short side becomes S, the long side int(S * long / short)
 * (truncated, as torchvision does) but at most PREPROCESS_MAX_SIDE, so any
 * positive size, however elongated, gives dims in [S, PREPROCESS_MAX_SIDE]
 * (past the cap the centre crop covers more of the long side than
 * torchvision's would).  Returns 0, or -1 (a cause, and 0 x 0) when a side
 * or S is not positive or S exceeds PREPROCESS_MAX_SIDE.
 */
int preprocess_resize_dims(int width, int height, int size, int *out_width, int *out_height,
    char **cause);

/*
 * Pillow's Image.resize((out_width, out_height), BICUBIC) of the view, but
 * only the window [x0, x0 + dst_width) x [y0, y0 + dst_height) of the
 * output is computed, into dst [dst_height, dst_width, 3].  Each output
 * pixel depends only on its own coordinates, so the window equals a crop of
 * the full resize.  When the view's pixels are not square (anamorphic
 * video) pass the stored size in the view and the display-shaped out size.
 * Returns 0, or -1 (and a cause) on bad sizes or allocation failure.
 */
int preprocess_resample(const preprocess_view *src, int out_width, int out_height, int x0,
    int y0, int dst_width, int dst_height, uint8_t *dst, char **cause);
/*
 * 1: preprocess_resample runs its portable C passes even where the CPU has
 * AVX2 (the same bytes, more slowly); 0 (the default): AVX2 when the CPU
 * has it.  For the tests, which compare the two.
 */
void preprocess_set_portable(int on);

/*
 * Resize so the short side of the displayed image is S and centre-crop
 * S x S: dst [S, S, 3] uint8 RGB.  display_width/height give the displayed
 * aspect (they differ from the view's size for anamorphic video; pass the
 * view's size otherwise).
 */
int preprocess_clip_rgb(const preprocess_view *src, int display_width, int display_height,
    int size, uint8_t *dst, char **cause);

/*
 * CLIP normalisation: rgb [S*S, 3] uint8 -> out [3, S*S] float,
 * (v / 255 - mean[c]) / std[c] computed in float as torchvision does.
 */
void preprocess_normalize(const uint8_t *rgb, size_t pixels, float *out);

#endif
