package resolver

import (
	"container/list"
	"sync"
	"time"
)

type cacheKey struct {
	name  string
	qtype uint16
}

// cache is a bounded LRU of answers with expiry times.
type cache struct {
	mu    sync.Mutex
	max   int
	ll    *list.List // front: most recently used
	items map[cacheKey]*list.Element
}

type cacheEntry struct {
	key     cacheKey
	a       answer
	expires time.Time
}

func newCache(max int) *cache {
	return &cache{max: max, ll: list.New(), items: map[cacheKey]*list.Element{}}
}

func (c *cache) get(k cacheKey, now time.Time) (answer, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[k]
	if !ok {
		return answer{}, false
	}
	e := el.Value.(*cacheEntry)
	if !now.Before(e.expires) {
		c.ll.Remove(el)
		delete(c.items, k)
		return answer{}, false
	}
	c.ll.MoveToFront(el)
	return e.a, true
}

func (c *cache) put(k cacheKey, a answer, expires time.Time) {
	if !expires.After(time.Now()) {
		return // TTL 0: the answer may not be kept
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[k]; ok {
		el.Value = &cacheEntry{k, a, expires}
		c.ll.MoveToFront(el)
		return
	}
	c.items[k] = c.ll.PushFront(&cacheEntry{k, a, expires})
	for c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*cacheEntry).key)
	}
	cacheEntries.Set(float64(c.ll.Len()))
}

func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
