// Package operations holds the custom $operations, one subpackage each,
// registered as data. Operations never import one another.
package operations
