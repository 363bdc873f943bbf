package caption

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/gif"
	"image/jpeg"
	"image/png"
	"io"

	"golang.org/x/image/webp"
)

// Formats filegate reads. WebP is read only (no encoder in x/image): WebP
// input is written as PNG unless another format is asked for.
const (
	JPEG = "jpeg"
	PNG  = "png"
	GIF  = "gif"
	WEBP = "webp"
)

// ContentType of an output format.
func ContentType(format string) string {
	switch format {
	case JPEG:
		return "image/jpeg"
	case PNG:
		return "image/png"
	case GIF:
		return "image/gif"
	}
	return "application/octet-stream"
}

// Limits guard decoding.
type Limits struct {
	MaxPixels int64 // width × height of one frame
	MaxFrames int   // animated GIF frames
}

// Errors for bad input; the service maps them to 4xx.
var (
	ErrNotImage    = errors.New("caption: not a JPEG, PNG, GIF or WebP image")
	ErrTooLarge    = errors.New("caption: image dimensions exceed the limit")
	ErrCorrupt     = errors.New("caption: image data is truncated or corrupt")
	ErrUnsupported = errors.New("caption: unsupported output format")
)

// Picture is a decoded image: one frame, or every frame of a GIF.
type Picture struct {
	Format string
	Frames []image.Image // one unless GIF: *image.YCbCr, *image.RGBA or *image.Paletted
	GIF    *gif.GIF      // the original GIF's timing and disposal
}

// Header is what Inspect learns of an image without decoding its pixels.
type Header struct {
	Config  image.Config
	Format  string
	Rotated bool  // a JPEG whose EXIF orientation turns it
	GIFArea int64 // every GIF frame's pixels, summed
}

// Inspect reads an image's header and checks its dimensions (and a GIF's
// frames) against lim, decoding no pixel.
func Inspect(data []byte, lim Limits) (Header, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		if errors.Is(err, image.ErrFormat) {
			return Header{}, ErrNotImage
		}
		return Header{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > lim.MaxPixels {
		return Header{}, fmt.Errorf("%w: %d×%d, at most %d pixels", ErrTooLarge, cfg.Width, cfg.Height, lim.MaxPixels)
	}
	h := Header{Config: cfg, Format: format}
	switch format {
	case GIF:
		// Every frame is checked before any is decoded: at most MaxFrames,
		// and all of them together at most twice the single-image budget.
		n, area, err := gifFrames(data)
		if err != nil {
			return Header{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		if n > lim.MaxFrames || area > 2*lim.MaxPixels {
			return Header{}, fmt.Errorf("%w: %d frames of %d pixels in all, at most %d frames and %d pixels", ErrTooLarge, n, area, lim.MaxFrames, 2*lim.MaxPixels)
		}
		h.GIFArea = area
	case JPEG:
		h.Rotated = exifOrientation(data) > 1
	case PNG, WEBP:
	default:
		return Header{}, ErrNotImage
	}
	return h, nil
}

// Decode reads an image, checking its dimensions before decoding pixels.
func Decode(data []byte, lim Limits) (*Picture, error) {
	return DecodeContext(context.Background(), data, lim)
}

// DecodeContext is Decode stopping with ctx's error once ctx is done.
func DecodeContext(ctx context.Context, data []byte, lim Limits) (*Picture, error) {
	hdr, err := Inspect(data, lim)
	if err != nil {
		return nil, err
	}
	return decodePixels(ctx, data, hdr, lim)
}

// decodePixels decodes an image that Inspect has already checked.
func decodePixels(ctx context.Context, data []byte, hdr Header, lim Limits) (*Picture, error) {
	format := hdr.Format
	src := func() io.Reader { return ctxReader{ctx: ctx, r: bytes.NewReader(data)} }
	p := &Picture{Format: format}
	switch format {
	case GIF:
		g, err := gif.DecodeAll(src())
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		if len(g.Image) > lim.MaxFrames {
			return nil, fmt.Errorf("%w: %d frames, at most %d", ErrTooLarge, len(g.Image), lim.MaxFrames)
		}
		p.GIF = g
		for _, f := range g.Image {
			p.Frames = append(p.Frames, f)
		}
	case JPEG, PNG, WEBP:
		var img image.Image
		var err error
		switch format {
		case JPEG:
			img, err = jpeg.Decode(src())
		case PNG:
			img, err = png.Decode(src())
		default:
			img, err = webp.Decode(src())
		}
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
		if format == JPEG {
			if hdr.Rotated {
				img = orient(img, exifOrientation(data))
			} else if y, ok := img.(*image.YCbCr); ok {
				// Painted in place and encoded back without converting
				// the whole picture to RGB.
				p.Frames = []image.Image{y}
				return p, nil
			}
		}
		if rgba, ok := img.(*image.RGBA); ok && rgba.Bounds().Min == (image.Point{}) {
			p.Frames = []image.Image{rgba} // painted as it is, no copy
			return p, nil
		}
		dst := image.NewRGBA(image.Rect(0, 0, img.Bounds().Dx(), img.Bounds().Dy()))
		draw.Draw(dst, dst.Bounds(), img, img.Bounds().Min, draw.Src)
		p.Frames = []image.Image{dst}
	default:
		return nil, ErrNotImage
	}
	return p, nil
}

// Encode writes the picture in format (JPEG, PNG or GIF).
func Encode(w io.Writer, p *Picture, format string) error {
	switch format {
	case JPEG:
		return jpeg.Encode(w, p.Frames[0], &jpeg.Options{Quality: 90})
	case PNG:
		return png.Encode(w, p.Frames[0])
	case GIF:
		if p.GIF != nil {
			return gif.EncodeAll(w, p.GIF)
		}
		return gif.Encode(w, p.Frames[0], nil)
	}
	return ErrUnsupported
}

// palettize makes sure a GIF frame's palette holds the caption colors, so
// the nearest-color drawing does not turn white into pale grey.
func palettize(f *image.Paletted, cs ...color.Color) {
	for _, c := range cs {
		found := false
		for _, pc := range f.Palette {
			if colorEq(pc, c) {
				found = true
				break
			}
		}
		if !found && len(f.Palette) < 256 {
			f.Palette = append(f.Palette, c)
		}
	}
}

func colorEq(a, b color.Color) bool {
	r1, g1, b1, a1 := a.RGBA()
	r2, g2, b2, a2 := b.RGBA()
	return r1 == r2 && g1 == g2 && b1 == b2 && a1 == a2
}

// exifOrientation reads the EXIF orientation (1..8) of a JPEG; 1 when
// absent or unreadable. It walks the JPEG markers to APP1 "Exif" and reads
// tag 0x0112 of IFD0. Written by hand: it is 40 lines, and the EXIF
// libraries read far more than this one tag.
func exifOrientation(b []byte) int {
	if len(b) < 4 || b[0] != 0xFF || b[1] != 0xD8 {
		return 1
	}
	i := 2
	for i+4 <= len(b) {
		if b[i] != 0xFF {
			return 1
		}
		marker := b[i+1]
		n := int(binary.BigEndian.Uint16(b[i+2:]))
		if n < 2 || i+2+n > len(b) {
			return 1
		}
		seg := b[i+4 : i+2+n]
		if marker == 0xE1 && len(seg) > 14 && string(seg[:6]) == "Exif\x00\x00" {
			return tiffOrientation(seg[6:])
		}
		if marker == 0xDA { // start of scan: no more metadata
			return 1
		}
		i += 2 + n
	}
	return 1
}

func tiffOrientation(t []byte) int {
	if len(t) < 8 {
		return 1
	}
	var bo binary.ByteOrder
	switch string(t[:2]) {
	case "II":
		bo = binary.LittleEndian
	case "MM":
		bo = binary.BigEndian
	default:
		return 1
	}
	off := int(bo.Uint32(t[4:]))
	if off < 8 || off+2 > len(t) {
		return 1
	}
	count := int(bo.Uint16(t[off:]))
	for k := range count {
		e := off + 2 + 12*k
		if e+12 > len(t) {
			return 1
		}
		if bo.Uint16(t[e:]) == 0x0112 {
			v := int(bo.Uint16(t[e+8:]))
			if v >= 1 && v <= 8 {
				return v
			}
			return 1
		}
	}
	return 1
}

// orient applies an EXIF orientation so the picture is upright.
func orient(src image.Image, o int) image.Image {
	if o <= 1 || o > 8 {
		return src
	}
	b := src.Bounds()
	w, h := b.Dx(), b.Dy()
	dw, dh := w, h
	if o >= 5 {
		dw, dh = h, w
	}
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := range h {
		for x := range w {
			var dx, dy int
			switch o {
			case 2:
				dx, dy = w-1-x, y
			case 3:
				dx, dy = w-1-x, h-1-y
			case 4:
				dx, dy = x, h-1-y
			case 5:
				dx, dy = y, x
			case 6:
				dx, dy = h-1-y, x
			case 7:
				dx, dy = h-1-y, w-1-x
			case 8:
				dx, dy = y, w-1-x
			}
			dst.Set(dx, dy, src.At(b.Min.X+x, b.Min.Y+y))
		}
	}
	return dst
}
