package storage

// freeList keeps a few large buffers between uses. A sync.Pool drops what
// two garbage collections find unused, and an ingest collects garbage more
// often than each of its workers writes a bundle: pooled, the buffers
// were made afresh nearly every time.
type freeList[T any] struct{ c chan T }

func newFreeList[T any](n int) freeList[T] { return freeList[T]{c: make(chan T, n)} }

// get is a kept value, or false when none is.
func (f freeList[T]) get() (T, bool) {
	select {
	case x := <-f.c:
		return x, true
	default:
		var zero T
		return zero, false
	}
}

// put keeps x unless enough are kept already.
func (f freeList[T]) put(x T) {
	select {
	case f.c <- x:
	default:
	}
}
