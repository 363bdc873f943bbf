package caption

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"math"
	"path"
	"runtime"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/sync/semaphore"

	"github.com/filegate/filegate"
	"github.com/filegate/filegate/grant"
	"github.com/filegate/filegate/jpegcoef"
)

// Config bounds the service; zero values take the defaults.
type Config struct {
	MaxBytes    int64         // largest input; default 25 MiB
	MaxPixels   int64         // largest frame; default 40 megapixels
	MaxFrames   int           // largest animation; default 500 frames
	Concurrency int           // renders at once; default the number of CPUs
	Timeout     time.Duration // per render; default 20 s
	// MemoryBudget bounds the bytes all renders in progress may hold (see
	// Cost); default 192 MiB. An image that alone needs more is refused
	// (413); others wait their turn up to QueueWait (default 10 s), then
	// get 429.
	MemoryBudget int64
	QueueWait    time.Duration
	// MaxOutput bounds an encoded result (default 64 MiB); MaxInline a
	// result returned in the response body (default 8 MiB).
	MaxOutput int64
	MaxInline int64
	// InlineFallback answers an inline request whose result exceeds
	// MaxInline with the link and a note instead of 413 (Lambda, whose
	// responses cannot exceed 6 MB).
	InlineFallback bool
	Tracer         trace.Tracer
}

// Service captions stored images. It is safe for concurrent use.
type Service struct {
	src    filegate.Bucket
	grants *grant.Service
	cfg    Config
	sem    chan struct{}
	memory *semaphore.Weighted
}

// New returns a Service.
func New(src filegate.Bucket, g *grant.Service, cfg Config) *Service {
	if cfg.MaxBytes == 0 {
		cfg.MaxBytes = 25 << 20
	}
	if cfg.MaxPixels == 0 {
		cfg.MaxPixels = 40_000_000
	}
	if cfg.MaxFrames == 0 {
		cfg.MaxFrames = 500
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = runtime.NumCPU()
	}
	if cfg.MemoryBudget == 0 {
		cfg.MemoryBudget = 192 << 20
	}
	if cfg.QueueWait == 0 {
		cfg.QueueWait = 10 * time.Second
	}
	if cfg.MaxOutput == 0 {
		cfg.MaxOutput = 64 << 20
	}
	if cfg.MaxInline == 0 {
		cfg.MaxInline = 8 << 20
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 20 * time.Second
	}
	if cfg.Tracer == nil {
		cfg.Tracer = noop.NewTracerProvider().Tracer("")
	}
	return &Service{src: src, grants: g, cfg: cfg, sem: make(chan struct{}, cfg.Concurrency), memory: semaphore.NewWeighted(cfg.MemoryBudget)}
}

// Request asks for a caption. Text is placed at (X, Y); TopText and
// BottomText are the classic meme layout.
type Request struct {
	Key                 string
	Text                string
	TopText, BottomText string
	X, Y                string // pixels ("120") or percent ("50%"); default 50% and bottom
	Scale               float64
	ScalePixels         float64 // text height in pixels instead of Scale (the seed meme app\'s scale)
	Align               string
	Color, StrokeColor  string // "#rrggbb", "#rgb" or a name (white, black, ...)
	OutputKey           string
	Format              string // jpeg, png or gif; default the input's (WebP: png)
	ExpiresIn           time.Duration
	Inline              bool
}

// Result is a stored caption.
type Result struct {
	Key           string
	URL           string
	ExpiresAt     time.Time
	ContentType   string
	Data          []byte // with Inline
	MissingGlyphs int
	// Note explains an answer that differs from the request (an inline
	// result too large for the response, given as a link).
	Note string
}

func invalid(op, code, msg string) error {
	return filegate.NewError(filegate.Invalid, op, code, msg)
}

// Caption renders req onto the image at req.Key, stores the result inside
// p's scope and signs a link to it.
func (s *Service) Caption(ctx context.Context, p *filegate.Principal, req Request) (Result, error) {
	const op = "caption.Caption"
	st, err := checkRequest(op, p, &req)
	if err != nil {
		return Result{}, err
	}
	exp, err := s.grants.Expiry(ctx, op, req.ExpiresIn)
	if err != nil {
		return Result{}, err
	}
	release, err := s.admit(ctx, op)
	if err != nil {
		return Result{}, err
	}
	defer release()
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()

	data, err := s.fetch(ctx, op, req.Key)
	if err != nil {
		return Result{}, err
	}
	if buf, missing, ok, err := s.captionCoefficients(ctx, op, req, st, data); err != nil {
		return Result{}, err
	} else if ok {
		return s.store(ctx, op, p, req, buf, JPEG, exp, missing)
	}
	pic, release, err := s.decode(ctx, op, req.Key, data)
	if err != nil {
		return Result{}, err
	}
	defer release()
	out := req.Format
	if out == "" {
		out = pic.Format
		if out == WEBP {
			out = PNG
		}
	}
	if out == GIF && pic.GIF == nil || out != GIF && pic.GIF != nil && len(pic.Frames) > 1 {
		return Result{}, invalid(op, "invalid_format", "animated GIFs stay GIFs, and only GIFs can become GIFs")
	}
	missing, err := s.render(ctx, op, req, pic, st)
	if err != nil {
		return Result{}, err
	}
	buf, err := s.encode(ctx, op, req, pic, out)
	if err != nil {
		return Result{}, err
	}
	return s.store(ctx, op, p, req, buf, out, exp, missing)
}

// checkRequest validates everything in req that needs no image, before
// any work is done, and returns the style it asks for. It normalizes
// req.Format ("jpg" is "jpeg").
func checkRequest(op string, p *filegate.Principal, req *Request) (Style, error) {
	st := Style{Fill: color.White, Stroke: color.Black, Scale: 0.1, Align: Center}
	if err := filegate.ValidateKey(op, req.Key); err != nil {
		return st, err
	}
	if err := p.Authorize(op, filegate.ActCaption, req.Key); err != nil {
		return st, err
	}
	if req.OutputKey != "" {
		// Checked here, and again once the key is final.
		if err := filegate.ValidateKey(op, req.OutputKey); err != nil {
			return st, err
		}
		if err := p.Authorize(op, filegate.ActCaption, req.OutputKey); err != nil {
			return st, err
		}
		if strings.HasSuffix(req.OutputKey, "/") {
			return st, invalid(op, "invalid_key", "output_key ends in / (a folder): give a file name")
		}
	}
	if strings.TrimSpace(req.Text+req.TopText+req.BottomText) == "" {
		return st, invalid(op, "invalid_text", "give text, or top_text and/or bottom_text")
	}
	if req.Text != "" && (req.TopText != "" || req.BottomText != "") {
		return st, invalid(op, "invalid_text", "give text, or top_text/bottom_text, not both")
	}
	for _, t := range []string{req.Text, req.TopText, req.BottomText} {
		if !utf8.ValidString(t) || len(t) > 2000 {
			return st, invalid(op, "invalid_text", "text must be UTF-8, at most 2000 bytes")
		}
	}
	if req.Scale != 0 {
		if req.Scale < 0.01 || req.Scale > 1 {
			return st, invalid(op, "invalid_scale", "scale must be between 0.01 and 1 (text height / image height)")
		}
		st.Scale = req.Scale
	}
	switch Align(req.Align) {
	case "":
	case Left, Center, Right:
		st.Align = Align(req.Align)
	default:
		return st, invalid(op, "invalid_align", `align must be "left", "center" or "right"`)
	}
	var err error
	if req.Color != "" {
		if st.Fill, err = parseColor(req.Color); err != nil {
			return st, invalid(op, "invalid_color", err.Error())
		}
	}
	if req.StrokeColor != "" {
		if st.Stroke, err = parseColor(req.StrokeColor); err != nil {
			return st, invalid(op, "invalid_color", err.Error())
		}
	}
	switch req.Format {
	case "", JPEG, PNG, GIF:
	case "jpg":
		req.Format = JPEG
	default:
		return st, invalid(op, "invalid_format", `format must be "jpeg", "png" or "gif"`)
	}
	return st, nil
}

func busy(op string, err error) error {
	return filegate.NewError(filegate.Busy, op, "busy", "too many captions in progress; try again shortly").Wrap(err)
}

func timedOut(op string, err error) error {
	return filegate.NewError(filegate.Unavailable, op, "render_timeout", "the caption took too long").Wrap(err)
}

// admit takes one of the render slots, waiting up to QueueWait.
func (s *Service) admit(ctx context.Context, op string) (func(), error) {
	wait := time.NewTimer(s.cfg.QueueWait)
	defer wait.Stop()
	select {
	case s.sem <- struct{}{}:
		return func() { <-s.sem }, nil
	case <-wait.C:
		return nil, busy(op, nil)
	case <-ctx.Done():
		return nil, busy(op, ctx.Err())
	}
}

// fetch reads the image, at most MaxBytes of it.
func (s *Service) fetch(ctx context.Context, op, key string) ([]byte, error) {
	ctx, span := s.cfg.Tracer.Start(ctx, "caption.fetch")
	defer span.End()
	tooLarge := filegate.NewError(filegate.TooLarge, op, "image_too_large", fmt.Sprintf("the image exceeds %d bytes", s.cfg.MaxBytes)).WithKey(key)
	body, info, err := s.src.Get(ctx, key)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	if info.Size > s.cfg.MaxBytes {
		return nil, tooLarge
	}
	// Read into a buffer of the size the store gave (plus the room
	// ReadFrom wants free to see EOF), not grown by doubling from 512
	// bytes.
	buf := bytes.NewBuffer(make([]byte, 0, min(max(info.Size, 0), s.cfg.MaxBytes)+bytes.MinRead))
	_, err = buf.ReadFrom(io.LimitReader(body, s.cfg.MaxBytes+1))
	data := buf.Bytes()
	span.SetAttributes(attribute.Int("caption.bytes", len(data)))
	if err != nil {
		return nil, filegate.NewError(filegate.Unavailable, op, "", "reading the image failed").WithKey(key).Wrap(err)
	}
	if int64(len(data)) > s.cfg.MaxBytes {
		return nil, tooLarge
	}
	return data, nil
}

// decode reserves the memory the image needs (refusing one that alone
// exceeds the budget, waiting up to QueueWait for the rest), then decodes
// it within the deadline. The caller calls release when done with it.
func (s *Service) decode(ctx context.Context, op, key string, data []byte) (*Picture, func(), error) {
	lim := Limits{MaxPixels: s.cfg.MaxPixels, MaxFrames: s.cfg.MaxFrames}
	release := func() {}
	hdr, err := Inspect(data, lim)
	if err == nil {
		cost := Cost(hdr.Config, hdr.Format, hdr.Rotated, hdr.GIFArea, s.cfg.MaxOutput) + int64(len(data))
		if cost > s.cfg.MemoryBudget {
			return nil, nil, filegate.NewError(filegate.TooLarge, op, "image_too_large",
				fmt.Sprintf("a %d×%d %s needs about %d MiB to caption; the limit is %d MiB", hdr.Config.Width, hdr.Config.Height, hdr.Format, cost>>20, s.cfg.MemoryBudget>>20)).WithKey(key)
		}
		qctx, qcancel := context.WithTimeout(ctx, s.cfg.QueueWait)
		err := s.memory.Acquire(qctx, cost)
		qcancel()
		if err != nil {
			return nil, nil, busy(op, err)
		}
		release = func() { s.memory.Release(cost) }
	}
	_, span := s.cfg.Tracer.Start(ctx, "caption.decode")
	var pic *Picture
	if err == nil {
		pic, err = decodePixels(ctx, data, hdr, lim) // checked by Inspect above
	}
	span.End()
	if err != nil {
		release()
	}
	switch {
	case ctx.Err() != nil:
		return nil, nil, timedOut(op, ctx.Err())
	case errors.Is(err, ErrTooLarge):
		return nil, nil, filegate.NewError(filegate.TooLarge, op, "image_too_large", err.Error()).WithKey(key)
	case errors.Is(err, ErrNotImage):
		return nil, nil, filegate.NewError(filegate.Unsupported, op, "not_an_image", err.Error()).WithKey(key)
	case err != nil:
		return nil, nil, filegate.NewError(filegate.Invalid, op, "corrupt_image", "the image is truncated or corrupt").WithKey(key)
	}
	return pic, release, nil
}

// render paints the text on every frame and returns how many glyphs of
// the first frame's text the font lacks.
func (s *Service) render(ctx context.Context, op string, req Request, pic *Picture, st Style) (int, error) {
	_, span := s.cfg.Tracer.Start(ctx, "caption.render", trace.WithAttributes(attribute.Int("caption.frames", len(pic.Frames))))
	defer span.End()
	bounds := pic.Frames[0].Bounds()
	if pic.GIF != nil {
		bounds = image.Rect(0, 0, pic.GIF.Config.Width, pic.GIF.Config.Height)
	}
	blocks, st, err := layoutBlocks(op, req, bounds, st)
	if err != nil {
		return 0, err
	}
	missing := 0
	for i, f := range pic.Frames {
		if err := ctx.Err(); err != nil {
			return 0, timedOut(op, err)
		}
		if pf, ok := f.(*image.Paletted); ok {
			palettize(pf, st.Fill, st.Stroke)
		}
		m, err := Paint(f, bounds, blocks, st)
		if err != nil {
			return 0, err
		}
		if i == 0 {
			missing = m
		}
	}
	return missing, nil
}

// encode writes the picture in format out, within the output limit, the
// inline limit when the answer carries the bytes, and the deadline.
func (s *Service) encode(ctx context.Context, op string, req Request, pic *Picture, out string) (*cappedBuffer, error) {
	_, span := s.cfg.Tracer.Start(ctx, "caption.encode")
	buf := &cappedBuffer{ctx: ctx, max: s.cfg.MaxOutput}
	err := Encode(buf, pic, out)
	span.End()
	return s.checkOutput(ctx, op, req, buf, out, err)
}

// checkOutput maps an encoder's error, and checks the output against the
// inline limit when the answer carries the bytes.
func (s *Service) checkOutput(ctx context.Context, op string, req Request, buf *cappedBuffer, out string, err error) (*cappedBuffer, error) {
	switch {
	case errors.Is(err, errOutputTooLarge):
		return nil, filegate.NewError(filegate.TooLarge, op, "output_too_large",
			fmt.Sprintf("the captioned %s would exceed %d MiB; ask for format jpeg", out, s.cfg.MaxOutput>>20)).WithKey(req.Key)
	case ctx.Err() != nil:
		return nil, timedOut(op, ctx.Err())
	case err != nil:
		return nil, filegate.NewError(filegate.Internal, op, "", "").Wrap(err)
	}
	if req.Inline && int64(buf.Len()) > s.cfg.MaxInline && !s.cfg.InlineFallback {
		return nil, filegate.NewError(filegate.TooLarge, op, "inline_too_large",
			fmt.Sprintf("the captioned image is %d bytes, more than the %d a response carries inline; ask without inline for a link", buf.Len(), s.cfg.MaxInline)).WithKey(req.Key)
	}
	return buf, nil
}

// store puts the result beside the source (or at req.OutputKey), inside
// p's scope, and signs a link to it.
func (s *Service) store(ctx context.Context, op string, p *filegate.Principal, req Request, buf *cappedBuffer, out string, exp time.Duration, missing int) (Result, error) {
	outKey := req.OutputKey
	if outKey == "" {
		sum := sha256.Sum256(fmt.Appendf(nil, "%+v", req))
		ext := path.Ext(req.Key)
		outKey = strings.TrimSuffix(req.Key, ext) + ".caption-" + hex.EncodeToString(sum[:])[:12] + "." + extension(out)
	}
	if err := filegate.ValidateKey(op, outKey); err != nil {
		return Result{}, err
	}
	if err := p.Authorize(op, filegate.ActCaption, outKey); err != nil {
		return Result{}, err
	}
	sctx, span := s.cfg.Tracer.Start(ctx, "caption.store")
	err := s.src.Put(sctx, outKey, ContentType(out), buf.Bytes())
	span.End()
	if err != nil {
		return Result{}, err
	}
	g, err := s.src.PresignGet(ctx, outKey, filegate.GetOptions{Expires: exp})
	if err != nil {
		return Result{}, err
	}
	res := Result{Key: outKey, URL: g.URL, ExpiresAt: g.Expires, ContentType: ContentType(out), MissingGlyphs: missing}
	switch {
	case req.Inline && int64(buf.Len()) > s.cfg.MaxInline:
		res.Note = fmt.Sprintf("the captioned image is %d bytes, more than the %d a response carries here; it is given as a link", buf.Len(), s.cfg.MaxInline)
	case req.Inline:
		res.Data = buf.Bytes()
	}
	return res, nil
}

func extension(format string) string {
	if format == JPEG {
		return "jpg"
	}
	return format
}

// layoutBlocks sets the text size asked for in pixels and places the
// blocks on the upright picture's bounds.
func layoutBlocks(op string, req Request, bounds image.Rectangle, st Style) ([]Block, Style, error) {
	if req.ScalePixels != 0 {
		if req.ScalePixels < 4 || req.ScalePixels > float64(bounds.Dy()) {
			return nil, st, invalid(op, "invalid_scale", "scale must be between 4 pixels and the image's height")
		}
		st.Scale = req.ScalePixels / float64(bounds.Dy())
	}
	blocks, err := placeBlocks(op, req, bounds, st)
	return blocks, st, err
}

// captionCoefficients captions a JPEG in the coefficient domain (coef.go)
// when it can. ok is false when it cannot: another output format, a build
// without libjpeg, a sampling layout it does not handle, data libjpeg
// refuses or warns about. The caller then decodes pixels, and that path
// gives bad data its usual error.
func (s *Service) captionCoefficients(ctx context.Context, op string, req Request, st Style, data []byte) (*cappedBuffer, int, bool, error) {
	if !jpegcoef.Available || req.Format != "" && req.Format != JPEG {
		return nil, 0, false, nil
	}
	hdr, err := Inspect(data, Limits{MaxPixels: s.cfg.MaxPixels, MaxFrames: s.cfg.MaxFrames})
	if err != nil || hdr.Format != JPEG {
		return nil, 0, false, nil
	}
	// Coefficients take 2 bytes a sample (3 samples a pixel at most);
	// the painted blocks and the output come on top.
	px := int64(hdr.Config.Width) * int64(hdr.Config.Height)
	cost := 6*px + min(s.cfg.MaxOutput, 2*px+64<<10) + int64(len(data))
	if cost > s.cfg.MemoryBudget {
		return nil, 0, false, nil // the pixel path refuses it in words
	}
	qctx, qcancel := context.WithTimeout(ctx, s.cfg.QueueWait)
	err = s.memory.Acquire(qctx, cost)
	qcancel()
	if err != nil {
		return nil, 0, false, busy(op, err)
	}
	defer s.memory.Release(cost)
	_, span := s.cfg.Tracer.Start(ctx, "caption.coefficients")
	out, missing, ok, err := coefficientCaption(ctx, op, req, st, data, s.cfg.MaxPixels)
	span.End()
	if !ok || err != nil {
		return nil, 0, ok, err
	}
	// The encoded bytes become the buffer's, not a copy of them.
	buf := &cappedBuffer{ctx: ctx, max: s.cfg.MaxOutput, Buffer: *bytes.NewBuffer(out)}
	if int64(len(out)) > s.cfg.MaxOutput {
		err = errOutputTooLarge
	}
	buf, err = s.checkOutput(ctx, op, req, buf, JPEG, err)
	return buf, missing, err == nil, err
}

// coefficientCaption captions the JPEG data in the coefficient domain;
// ok is false when it cannot (see captionCoefficients).
func coefficientCaption(ctx context.Context, op string, req Request, st Style, data []byte, maxPixels int64) (out []byte, missing int, ok bool, err error) {
	cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, 0, false, nil
	}
	o := exifOrientation(data)
	bounds := image.Rect(0, 0, cfg.Width, cfg.Height)
	if o >= 5 && o <= 8 {
		bounds = image.Rect(0, 0, cfg.Height, cfg.Width)
	}
	blocks, st, err := layoutBlocks(op, req, bounds, st)
	if err != nil {
		return nil, 0, false, err
	}
	// The text is laid out and rasterized while libjpeg decodes: neither
	// needs the other.
	type drawn struct {
		stamps  []stamp
		missing int
		err     error
		edit    *coefEdit // the MCUs the ink reaches
	}
	ready := make(chan drawn, 1)
	// The rows the text will cover are known once it is laid out, before
	// it is drawn: the JPEG's rows from there down are decoded meanwhile.
	// Once drawn, the ink's MCUs are found from the headers alone, still
	// while the scan is decoded.
	rows := make(chan int, 1)
	headers := make(chan jpegcoef.Info, 1) // closed without a value when Open fails
	go func() {
		s, n, err := stampsFor(bounds, blocks, st, func(r image.Rectangle) {
			rows <- unorientRect(r, o, cfg.Width, cfg.Height).Min.Y
		})
		close(rows)
		var e *coefEdit
		if info, ok := <-headers; ok && err == nil && coefSupported(info) && info.Width == cfg.Width && info.Height == cfg.Height {
			e = planEdit(info, o, s, st)
			e.prepaint()
		}
		ready <- drawn{s, n, err, e}
	}()
	m, err := jpegcoef.Open(data, maxPixels)
	if err == nil {
		headers <- m.Info()
	}
	close(headers)
	if y, ok := <-rows; ok && err == nil {
		// An error here leaves the rows to paintPlanned, which
		// reports it.
		_ = m.Rows(y)
	}
	d := <-ready
	if err != nil {
		return nil, 0, false, nil
	}
	defer m.Close()
	if d.err != nil {
		return nil, 0, false, d.err
	}
	info := m.Info()
	if !coefSupported(info) || info.Width != cfg.Width || info.Height != cfg.Height {
		return nil, 0, false, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, false, timedOut(op, err)
	}
	if _, err := paintPlanned(m, d.edit); err != nil {
		return nil, 0, false, nil
	}
	out, err = m.Encode()
	if err != nil {
		return nil, 0, false, nil
	}
	return out, d.missing, true, nil
}

// placeBlocks turns the request's texts and positions into blocks.
func placeBlocks(op string, req Request, b image.Rectangle, st Style) ([]Block, error) {
	W, H := float64(b.Dx()), float64(b.Dy())
	margin := H * 0.03
	width := W * 0.92
	if req.Text == "" {
		return []Block{
			{Text: req.TopText, X: anchorX(st.Align, W), Y: margin, Width: width},
			{Text: req.BottomText, X: anchorX(st.Align, W), Y: H - margin, Width: width, AnchorBottom: true},
		}, nil
	}
	x, y := anchorX(st.Align, W), H-margin
	bottom := true
	var err error
	if req.X != "" {
		if x, err = coord(req.X, W); err != nil {
			return nil, invalid(op, "invalid_position", "x: "+err.Error())
		}
		switch st.Align {
		case Left:
			width = W - x
		case Right:
			width = x
		default:
			width = 2 * min(x, W-x)
		}
		width = max(width*0.98, W*0.05)
	}
	if req.Y != "" {
		if y, err = coord(req.Y, H); err != nil {
			return nil, invalid(op, "invalid_position", "y: "+err.Error())
		}
		bottom = false
	}
	return []Block{{Text: req.Text, X: x, Y: y, Width: width, AnchorBottom: bottom}}, nil
}

func anchorX(a Align, W float64) float64 {
	switch a {
	case Left:
		return W * 0.04
	case Right:
		return W * 0.96
	}
	return W / 2
}

// coord parses "120" (pixels) or "50%" of size.
func coord(s string, size float64) (float64, error) {
	pct := strings.HasSuffix(s, "%")
	v, err := strconv.ParseFloat(strings.TrimSuffix(s, "%"), 64)
	if err != nil || v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, errors.New(`want pixels ("120") or a percentage ("50%")`)
	}
	if pct {
		if v > 100 {
			return 0, errors.New("a percentage is at most 100%")
		}
		return v / 100 * size, nil
	}
	if v > size {
		return 0, errors.New("outside the image")
	}
	return v, nil
}

var namedColors = map[string]color.Color{
	"white": color.White, "black": color.Black, "red": color.RGBA{255, 0, 0, 255}, "green": color.RGBA{0, 128, 0, 255},
	"blue": color.RGBA{0, 0, 255, 255}, "yellow": color.RGBA{255, 255, 0, 255},
}

func parseColor(s string) (color.Color, error) {
	if c, ok := namedColors[strings.ToLower(s)]; ok {
		return c, nil
	}
	h := strings.TrimPrefix(s, "#")
	if len(h) == 3 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	if len(h) != 6 {
		return nil, fmt.Errorf("color %q: want #rrggbb, #rgb or white, black, red, green, blue, yellow", s)
	}
	v, err := strconv.ParseUint(h, 16, 32)
	if err != nil {
		return nil, fmt.Errorf("color %q: want #rrggbb", s)
	}
	return color.RGBA{uint8(v >> 16), uint8(v >> 8), uint8(v), 255}, nil
}
