// Package profiles validates resources against StructureDefinitions. Until
// the profiles issue lands it checks structure against the R4 models.
package profiles
