package vault

import (
	"errors"
	"sync"
)

// inParallel runs independent steps of a request at once and returns when
// all are done. In AWS every store call is a network round trip of a few
// milliseconds, so a request waits for the longest chain of calls that
// depend on each other, not for the sum: reads that decide nothing for
// each other (is the merchant shredded? what does the record hold?) are
// issued together. Only reads are run this way before a request is
// admitted, so a refused request still changes nothing.
func inParallel(steps ...func()) {
	var wg sync.WaitGroup
	for _, step := range steps[1:] {
		wg.Go(step)
	}
	steps[0]()
	wg.Wait()
}

// firstError is the first of errs that is not nil: what a request that
// ran steps in parallel answers, as it would have had they run in turn.
func firstError(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// ignoreNotFound drops ErrNotFound, an answer rather than a failure.
func ignoreNotFound(err error) error {
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	return err
}
