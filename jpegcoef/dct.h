#include <stdint.h>

// fg_dct_tables folds the AAN scale factors into the quantization table q
// (natural order): mul dequantizes for fg_idct_blocks, div quantizes for
// fg_fdct_blocks.
void fg_dct_tables(const uint16_t *q, float *mul, float *div);

// fg_fdct_blocks transforms and quantizes the blocks of rows [0, bh) and
// columns [bx0, bx1) whose want byte is set (want and coefs hold bw blocks
// a row; pix holds their samples, 8 rows of stride bytes a block row).
void fg_fdct_blocks(const uint8_t *pix, int stride, const uint8_t *want, int bw, int bx0, int bx1, int bh,
                    const float *div, int16_t *coefs);

// fg_idct_blocks is the inverse: dequantizes and transforms the wanted
// blocks into pix.
void fg_idct_blocks(const int16_t *coefs, const uint8_t *want, int bw, int bx0, int bx1, int bh,
                    const float *mul, uint8_t *pix, int stride);
