package caption

import (
	"encoding/binary"
	"errors"
)

// gifFrames walks a GIF's block structure without decoding any pixel data
// and returns its frame count and the sum of its frames' areas, so that an
// animation of many large frames (LZW packs flat frames a thousandfold) is
// refused before gif.DecodeAll materializes it. Written by hand: image/gif
// offers no way to look at frames before decoding them all.
func gifFrames(b []byte) (frames int, area int64, err error) {
	bad := errors.New("caption: malformed GIF")
	if len(b) < 13 || (string(b[:6]) != "GIF87a" && string(b[:6]) != "GIF89a") {
		return 0, 0, bad
	}
	i := 13
	if b[10]&0x80 != 0 { // global color table
		i += 3 << (b[10]&7 + 1)
	}
	skipSubBlocks := func() bool {
		for i < len(b) {
			n := int(b[i])
			i++
			if n == 0 {
				return true
			}
			i += n
		}
		return false
	}
	for i < len(b) {
		switch b[i] {
		case 0x3B: // trailer
			return frames, area, nil
		case 0x21: // extension: label, then sub-blocks
			i += 2
			if !skipSubBlocks() {
				return frames, area, bad
			}
		case 0x2C: // image descriptor
			if i+10 > len(b) {
				return frames, area, bad
			}
			w := int64(binary.LittleEndian.Uint16(b[i+5:]))
			h := int64(binary.LittleEndian.Uint16(b[i+7:]))
			flags := b[i+9]
			i += 10
			if flags&0x80 != 0 { // local color table
				i += 3 << (flags&7 + 1)
			}
			i++ // LZW minimum code size
			if !skipSubBlocks() {
				return frames, area, bad
			}
			frames++
			area += w * h
		default:
			return frames, area, bad
		}
	}
	return frames, area, bad
}
