package forward

import (
	"sync"

	"github.com/cardvault/vault/shared/vaulterr"
	"github.com/cardvault/vault/shared/wire"
)

var (
	_ Source = staticSource{}
	_ Source = fileSource{}
	_ Source = (*checkedSource)(nil)
)

// FileSource follows the destinations file at path the way the client
// registry's file is followed (wire.FileDocument): an edit takes effect on
// the next forward, and a document that fails to parse answers
// Unavailable until it is fixed.
func FileSource(path string) Source {
	return fileSource{wire.NewFileDocument(path, "destinations", ParseDestinations)}
}

type fileSource struct {
	doc *wire.FileDocument[*Destinations]
}

func (f fileSource) Destinations() (*Destinations, error) { return f.doc.Load() }

// Checked yields dest's destinations only while every client of the
// registry lists destinations they hold: the two documents are loaded
// apart, so a client naming an unknown destination is refused here, where
// both are at hand (wire.Registry.CheckDestinations). The check runs again
// only when either document changed.
func Checked(dest Source, clients wire.RegistrySource) Source {
	return &checkedSource{dest: dest, clients: clients}
}

type checkedSource struct {
	dest    Source
	clients wire.RegistrySource

	mu      sync.Mutex
	lastReg *wire.Registry
	lastDst *Destinations
	lastErr error
}

func (c *checkedSource) Destinations() (*Destinations, error) {
	d, err := c.dest.Destinations()
	if err != nil {
		return nil, err
	}
	reg, err := c.clients.Registry()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if reg != c.lastReg || d != c.lastDst {
		c.lastReg, c.lastDst, c.lastErr = reg, d, nil
		if err := CheckRegistry(reg, d); err != nil {
			c.lastErr = vaulterr.Wrap(vaulterr.Unavailable, "destinations unavailable", err)
		}
	}
	if c.lastErr != nil {
		return nil, c.lastErr
	}
	return d, nil
}

// CheckRegistry refuses a registry whose clients name a destination d
// does not hold; a cold start calls it with both documents loaded.
func CheckRegistry(reg *wire.Registry, d *Destinations) error {
	return reg.CheckDestinations(d.Known)
}
