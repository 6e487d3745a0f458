package fhirserver

import (
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/fhirserver/fhirserver/outcome"
)

// limitBody holds every request body to the size limit, decoded size
// included, and reads nothing itself: only a handler does, after its
// route's authentication.
//
// A client with no token that announced a body and sent none used to hold
// its connection open: net/http, to reuse a connection, drains what a
// handler left of a body, and waits for it; and it drained even a large
// one when the body it saw was not its own. So the connection's own body
// goes back to net/http when the handler is done, and a connection whose
// body was not read whole is closed rather than drained.
func (a *app) limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.ContentLength > a.cfg.MaxBodyBytes {
			dropBody(c, true)
			return errTooLarge()
		}
		if r.Body == nil || r.Body == http.NoBody {
			return next(c)
		}
		raw, length := r.Body, r.ContentLength
		b := &requestBody{raw: raw, length: length, limit: a.cfg.MaxBodyBytes, encoding: r.Header.Get("Content-Encoding")}
		r.Body = b
		if b.encoded() {
			r.ContentLength = -1 // the decoded length is unknown
		}
		err := next(c)
		r.Body, r.ContentLength = raw, length
		if !b.consumed() {
			dropBody(c, err != nil)
		}
		return err
	}
}

// dropBody closes the connection of a request whose body was not read
// whole: net/http would wait for the rest to reuse the connection, but a
// read deadline already past has it close it instead. An error answer
// that is still to be written says so.
func dropBody(c echo.Context, failed bool) {
	if failed {
		c.Response().Header().Set("Connection", "close")
	}
	_ = http.NewResponseController(c.Response()).SetReadDeadline(time.Now())
}

func errTooLarge() error {
	return outcome.E(outcome.TooLarge, "the request body is larger than this server accepts")
}

// requestBody is a request body that decodes gzip when first read and
// fails, with the error the client gets, past the size limit on either
// side of decoding, on an encoding it does not know, and when the
// client stops sending.
type requestBody struct {
	raw      io.ReadCloser
	length   int64 // Content-Length; -1 when unknown
	limit    int64
	encoding string
	read     int64 // bytes read from raw
	eof      bool
	decoded  int64
	dec      io.Reader // set at the first Read
	err      error
}

func (b *requestBody) encoded() bool {
	e := strings.TrimSpace(strings.ToLower(b.encoding))
	return e != "" && e != "identity"
}

// consumed reports whether the connection holds no more of the body.
func (b *requestBody) consumed() bool { return b.eof || b.length >= 0 && b.read >= b.length }

func (b *requestBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.dec == nil {
		if b.dec, b.err = b.decoder(); b.err != nil {
			b.err = b.clientError(b.err)
			return 0, b.err
		}
	}
	n, err := b.dec.Read(p)
	b.decoded += int64(n)
	switch {
	case b.decoded > b.limit:
		b.err = errTooLarge()
	case err == nil, errors.Is(err, io.EOF):
		return n, err
	default:
		b.err = b.clientError(err)
	}
	return 0, b.err
}

// clientError is what the client gets for a body that cannot be read: a
// bad gzip stream, or a client that went quiet or away, is its mistake,
// never the server's.
func (b *requestBody) clientError(err error) error {
	if errors.As(err, new(*outcome.Error)) {
		return err
	}
	msg := "the request body ended early or arrived too slowly"
	if b.encoded() {
		msg += ", or is not valid " + b.encoding
	}
	return outcome.E(outcome.Invalid, "%s", msg).WithCode("incomplete")
}

func (b *requestBody) decoder() (io.Reader, error) {
	if !b.encoded() {
		return rawReader{b}, nil
	}
	switch strings.TrimSpace(strings.ToLower(b.encoding)) {
	case "gzip", "x-gzip":
		return gzip.NewReader(rawReader{b})
	}
	return nil, outcome.E(outcome.MediaType, "Content-Encoding %q is not supported: send the body as is or gzip-compressed", b.encoding)
}

func (b *requestBody) Close() error { return b.raw.Close() }

// rawReader counts what comes off the connection and holds it to the limit.
type rawReader struct{ b *requestBody }

func (r rawReader) Read(p []byte) (int, error) {
	n, err := r.b.raw.Read(p)
	r.b.read += int64(n)
	if errors.Is(err, io.EOF) {
		r.b.eof = true
	}
	if r.b.read > r.b.limit {
		return n, errTooLarge()
	}
	return n, err
}
