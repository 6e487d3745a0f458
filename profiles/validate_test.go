package profiles

import (
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The definitions know the same resource types as the rest of the server,
// and each type's smallest example passes its base definition.
func TestEveryResourceTypeHasAValidExample(t *testing.T) {
	d, err := R4()
	require.NoError(t, err)
	var defined []string
	for typ, e := range d.byType {
		// SubscriptionStatus comes with the package from R4B's backport.
		if e.Kind == "resource" && !d.Base(typ).Abstract && typ != "SubscriptionStatus" {
			defined = append(defined, typ)
		}
	}
	types := ResourceTypes()
	slices.Sort(defined)
	slices.Sort(types)
	assert.Equal(t, types, defined)
	for _, typ := range types {
		errs, _ := d.Validate(d.Example(typ, "x"))
		assert.Empty(t, errs, typ)
	}
}
