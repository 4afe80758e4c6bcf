package config

import (
	"fmt"
	"strconv"
	"time"
)

// String returns the non-secret setting NAME, or def when it is unset.
func (l *Loader) String(name, def string) string {
	if v := l.getenv(name); v != "" {
		return v
	}
	return def
}

// Duration returns the setting NAME parsed as a Go duration ("90s",
// "5m"), or def when it is unset.
func (l *Loader) Duration(name string, def time.Duration) (time.Duration, error) {
	v := l.getenv(name)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("config: %s is not a duration such as 90s or 5m", name)
	}
	return d, nil
}

// Int returns the setting NAME parsed as a decimal integer, or def when it
// is unset.
func (l *Loader) Int(name string, def int) (int, error) {
	v := l.getenv(name)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("config: %s is not a whole number", name)
	}
	return n, nil
}
