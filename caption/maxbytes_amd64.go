package caption

// maxBytesWide does maxBytes on the longest multiple of 16 bytes of dst
// with SSE2's PMAXUB, which every amd64 CPU has, and returns how many
// bytes it did. The outline of a caption is 32 such passes over its mask:
// written in assembly because Go's compiler does not vectorize, and no
// library offers a byte-wise maximum.
func maxBytesWide(dst, src []byte) int {
	n := len(dst) &^ 15
	if n > 0 {
		pmaxub(&dst[0], &src[0], n/16)
	}
	return n
}

// pmaxub sets the blocks×16 bytes at dst to the byte-wise maximum of
// themselves and those at src.
//
//go:noescape
func pmaxub(dst, src *byte, blocks int)
