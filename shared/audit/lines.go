package audit

import (
	"bufio"
	"errors"
	"io"
)

// maxLineBytes bounds one line of an audit file. An event is a few hundred
// bytes (every string member is bounded), so a longer line is damage.
const maxLineBytes = 64 << 10

var (
	errIncompleteLine = errors.New("incomplete line (no newline at the end of the file): a write was cut short")
	errLineTooLong    = errors.New("line longer than 64 KiB: not an audit event")
)

// lineReader reads an audit file line by line, numbering lines from 1.
type lineReader struct {
	r    *bufio.Reader
	line int
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{r: bufio.NewReaderSize(r, maxLineBytes)}
}

// next returns the next line without its newline, valid until the next
// call. It returns io.EOF at a clean end of input, errIncompleteLine when
// the input ends inside a line and errLineTooLong for an overlong line;
// lr.line is then the number of the offending line.
func (lr *lineReader) next() ([]byte, error) {
	b, err := lr.r.ReadSlice('\n')
	switch {
	case err == nil:
		lr.line++
		return b[:len(b)-1], nil
	case errors.Is(err, io.EOF) && len(b) == 0:
		return nil, io.EOF
	case errors.Is(err, io.EOF):
		lr.line++
		return b, errIncompleteLine
	case errors.Is(err, bufio.ErrBufferFull):
		lr.line++
		return nil, errLineTooLong
	default:
		return nil, err
	}
}
