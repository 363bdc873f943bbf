// Editing a baseline JPEG's bottom rows without re-encoding the rest: see
// scan.c.

#include <stddef.h>
#include <stdio.h>
#include <jpeglib.h>

typedef struct fg_scan fg_scan;

fg_scan *fg_scan_index(j_decompress_ptr d, const unsigned char *data, size_t n, size_t start);
int fg_scan_load(fg_scan *s, int y0);
int fg_scan_first_row(fg_scan *s, int ci);
int fg_scan_blocks(fg_scan *s, int ci, int bx0, int by0, int bx1, int by1, JCOEF *buf, int write);
int fg_scan_encode(fg_scan *s, unsigned char **out, size_t *outsize);
void fg_scan_free(fg_scan *s);
