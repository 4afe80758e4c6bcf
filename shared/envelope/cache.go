package envelope

import (
	"container/list"
	"sync"
	"time"
)

// keyCache holds unwrapped merchant keys, bounded by age and count.
// Evicted keys are wiped. It is the reason the vault makes about one
// keyring call per merchant, key version and container per TTL, instead
// of one per record.
//
// The age bound holds whether or not the key is looked up again: each
// entry has a timer that evicts and wipes it when its TTL ends, so an
// unwrapped key outlives its TTL only by the runtime's timer latency
// (milliseconds; ExpiryBound is the documented bound). A pending timer is
// not a goroutine, so the cache starts none; Close stops the timers and
// wipes every entry at once.
type keyCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	max     int
	now     func() time.Time
	order   *list.List // front: most recently used
	entries map[cacheKey]*list.Element
}

// ExpiryBound is how long after its TTL an unwrapped key may still be in
// the cache, unwiped, with no lookup to notice it: the latency of the
// timer that evicts it, far below this on any machine that is running at
// all. (A Lambda container frozen between invocations runs nothing; its
// timers fire the moment it thaws.)
const ExpiryBound = time.Second

type cacheKey struct {
	merchantID string
	version    uint32
}

type cacheEntry struct {
	key     cacheKey
	keys    *MerchantKeys
	expires time.Time
	timer   *time.Timer
}

func newKeyCache(ttl time.Duration, max int, now func() time.Time) *keyCache {
	return &keyCache{ttl: ttl, max: max, now: now, order: list.New(), entries: make(map[cacheKey]*list.Element)}
}

func (c *keyCache) get(k cacheKey) (*MerchantKeys, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.entries[k]
	if !ok {
		return nil, false
	}
	e := el.Value.(*cacheEntry)
	if !c.now().Before(e.expires) {
		c.removeLocked(el)
		return nil, false
	}
	c.order.MoveToFront(el)
	return e.keys, true
}

func (c *keyCache) put(k cacheKey, keys *MerchantKeys) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[k]; ok {
		c.removeLocked(el)
	}
	e := &cacheEntry{key: k, keys: keys, expires: c.now().Add(c.ttl)}
	el := c.order.PushFront(e)
	c.entries[k] = el
	e.timer = time.AfterFunc(c.ttl, func() { c.expire(el) })
	for c.order.Len() > c.max {
		c.removeLocked(c.order.Back())
	}
}

// expire is an entry's timer: it evicts the entry unless it is already
// gone (evicted, replaced or forgotten while the timer was firing).
func (c *keyCache) expire(el *list.Element) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := el.Value.(*cacheEntry)
	if c.entries[e.key] == el {
		c.removeLocked(el)
	}
}

// remove drops one entry.
func (c *keyCache) remove(k cacheKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[k]; ok {
		c.removeLocked(el)
	}
}

// forget drops every cached version of a merchant (after shredding).
func (c *keyCache) forget(merchantID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for k, el := range c.entries {
		if k.merchantID == merchantID {
			c.removeLocked(el)
		}
	}
}

// clear drops and wipes every entry and stops their timers.
func (c *keyCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for c.order.Len() > 0 {
		c.removeLocked(c.order.Back())
	}
}

func (c *keyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}

// removeLocked evicts one entry, stops its timer and wipes its raw key
// bytes. Callers that still hold the MerchantKeys keep working: they use
// only the AEAD and HMAC states built from the bytes, never the bytes
// themselves.
func (c *keyCache) removeLocked(el *list.Element) {
	e := el.Value.(*cacheEntry)
	e.timer.Stop()
	c.order.Remove(el)
	delete(c.entries, e.key)
	e.keys.wipe()
}

// primaryCache remembers each merchant's primary version for a short
// time, so that finding the primary costs no storage read on the hot path
// and a rotation reaches this container within the TTL.
type primaryCache struct {
	mu      sync.Mutex
	ttl     time.Duration
	max     int
	now     func() time.Time
	entries map[string]primaryEntry
}

type primaryEntry struct {
	version uint32
	expires time.Time
}

func newPrimaryCache(ttl time.Duration, max int, now func() time.Time) *primaryCache {
	return &primaryCache{ttl: ttl, max: max, now: now, entries: make(map[string]primaryEntry)}
}

func (c *primaryCache) get(merchantID string) (uint32, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[merchantID]
	if !ok || !c.now().Before(e.expires) {
		return 0, false
	}
	return e.version, true
}

func (c *primaryCache) put(merchantID string, version uint32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.max {
		// Drop expired entries first; if the map is still full, drop all:
		// the pointers are cheap to read again.
		now := c.now()
		for m, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, m)
			}
		}
		if len(c.entries) >= c.max {
			clear(c.entries)
		}
	}
	c.entries[merchantID] = primaryEntry{version: version, expires: c.now().Add(c.ttl)}
}

func (c *primaryCache) forget(merchantID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, merchantID)
}
