//go:build !amd64

package caption

// maxBytesWide does nothing here: maxBytesSWAR does it all.
func maxBytesWide(dst, src []byte) int { return 0 }
