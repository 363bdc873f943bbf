package caption

import (
	"bytes"
	"context"
	"errors"
	"image"
	"io"
)

// Cost estimates the bytes a caption of this image holds at its peak:
// the decoded frames, the RGBA copy painted on (PNG, WebP, a rotated JPEG),
// and the encoded output (bounded by maxOut). It is checked against the
// service's memory budget before any pixel is decoded.
func Cost(cfg image.Config, format string, rotated bool, gifArea, maxOut int64) int64 {
	px := int64(cfg.Width) * int64(cfg.Height)
	var decoded int64
	switch format {
	case JPEG:
		decoded = 3 * px // YCbCr, 4:4:4 at worst
		if rotated {
			decoded += 4 * px
		}
	case PNG:
		decoded = 8*px + 4*px // 16-bit RGBA at worst, then the RGBA copy
	case WEBP:
		decoded = 4*px + 4*px
	case GIF:
		decoded = gifArea + 4*px // paletted frames, and one RGBA canvas while encoding
	}
	return decoded + min(maxOut, 2*px+64<<10)
}

// ctxReader fails reads once ctx is done, so a decode stops at the
// request's deadline instead of running to the end.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// errOutputTooLarge is returned by a capped writer past its limit.
var errOutputTooLarge = errors.New("caption: output exceeds the limit")

// cappedBuffer collects output up to max bytes and fails writes once ctx is
// done, so an encode stops at the deadline or at the size limit.
type cappedBuffer struct {
	ctx context.Context
	max int64
	bytes.Buffer
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	if int64(c.Len()+len(p)) > c.max {
		return 0, errOutputTooLarge
	}
	return c.Buffer.Write(p)
}
