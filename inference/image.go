package inference

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // decoders for image.Decode
	_ "image/png"
)

// Limits on an image input, checked before decoding the pixels.
const (
	maxImageBytes  = 10 << 20
	maxImagePixels = 8192 * 8192
)

// encodeImages validates and preprocesses each input's image as the spec
// declares, writing into dst (one image per batch row).
func (s *Spec) encodeImages(inputs []Input, dst []float32, p *problems) {
	im := s.Image
	size := im.Width * im.Height * im.Channels
	for i, in := range inputs {
		if in.Features != nil || in.Channels != nil {
			p.add(i, "", ReasonWrongKind, "this model takes an image only")
		}
		switch {
		case len(in.Image) == 0:
			p.add(i, "image", ReasonRequired, "is required: a PNG or JPEG file")
			continue
		case len(in.Image) > maxImageBytes:
			p.add(i, "image", ReasonImage, "is %d bytes; the limit is %d", len(in.Image), maxImageBytes)
			continue
		}
		cfg, _, err := image.DecodeConfig(bytes.NewReader(in.Image))
		if err != nil {
			p.add(i, "image", ReasonImage, "is not a PNG or JPEG image")
			continue
		}
		if cfg.Width < 1 || cfg.Height < 1 || cfg.Width*cfg.Height > maxImagePixels {
			p.add(i, "image", ReasonImage, "is %dx%d pixels; at most %d pixels are accepted", cfg.Width, cfg.Height, maxImagePixels)
			continue
		}
		img, _, err := image.Decode(bytes.NewReader(in.Image))
		if err != nil {
			p.add(i, "image", ReasonImage, "cannot be decoded: %v", err)
			continue
		}
		im.preprocess(img, dst[i*size:(i+1)*size])
	}
}

// preprocess resizes img to the declared size and writes the normalised
// values into dst in the declared layout.
func (im *ImageSpec) preprocess(img image.Image, dst []float32) {
	b := img.Bounds()
	sx := float64(b.Dx()) / float64(im.Width)
	sy := float64(b.Dy()) / float64(im.Height)
	var px [3]float64
	for y := 0; y < im.Height; y++ {
		for x := 0; x < im.Width; x++ {
			// Pixel centres map to pixel centres (the convention of
			// OpenCV's and PIL's resize), so a same-size resize is exact.
			fx := (float64(x)+0.5)*sx - 0.5
			fy := (float64(y)+0.5)*sy - 0.5
			if im.Resize == "nearest" {
				px = rgbAt(img, b.Min.X+clampInt(int(fx+0.5), 0, b.Dx()-1), b.Min.Y+clampInt(int(fy+0.5), 0, b.Dy()-1))
			} else {
				px = bilinear(img, b, fx, fy)
			}
			vals := px[:]
			if im.Channels == 1 {
				// ITU-R BT.601 luma, as image/color's GrayModel uses.
				vals = []float64{0.299*px[0] + 0.587*px[1] + 0.114*px[2]}
			}
			for c, v := range vals {
				n := float32((v*im.Scale - im.Mean[c]) / im.Std[c])
				if im.Layout == "NHWC" {
					dst[(y*im.Width+x)*im.Channels+c] = n
				} else {
					dst[(c*im.Height+y)*im.Width+x] = n
				}
			}
		}
	}
}

func bilinear(img image.Image, b image.Rectangle, fx, fy float64) [3]float64 {
	fx = clampF(fx, 0, float64(b.Dx()-1))
	fy = clampF(fy, 0, float64(b.Dy()-1))
	x0, y0 := int(fx), int(fy)
	x1, y1 := min(x0+1, b.Dx()-1), min(y0+1, b.Dy()-1)
	ax, ay := fx-float64(x0), fy-float64(y0)
	p00 := rgbAt(img, b.Min.X+x0, b.Min.Y+y0)
	p10 := rgbAt(img, b.Min.X+x1, b.Min.Y+y0)
	p01 := rgbAt(img, b.Min.X+x0, b.Min.Y+y1)
	p11 := rgbAt(img, b.Min.X+x1, b.Min.Y+y1)
	var out [3]float64
	for c := range out {
		top := p00[c]*(1-ax) + p10[c]*ax
		bottom := p01[c]*(1-ax) + p11[c]*ax
		out[c] = top*(1-ay) + bottom*ay
	}
	return out
}

// rgbAt is the pixel's colour on a 0..255 scale, alpha removed (images are
// composited on black, as decoders of opaque clinical images expect).
func rgbAt(img image.Image, x, y int) [3]float64 {
	c := color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)
	a := float64(c.A) / 255
	return [3]float64{float64(c.R) * a, float64(c.G) * a, float64(c.B) * a}
}

func clampInt(v, lo, hi int) int { return max(lo, min(v, hi)) }

func clampF(v, lo, hi float64) float64 { return max(lo, min(v, hi)) }

// describeImage is the preprocessing in words, for the model list.
func (im *ImageSpec) describe() string {
	return fmt.Sprintf("decode PNG/JPEG, %s resize to %dx%d, %d channel(s), (v*%g - mean)/std, layout %s",
		im.Resize, im.Width, im.Height, im.Channels, im.Scale, im.Layout)
}
