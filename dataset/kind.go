package dataset

import "github.com/apache/arrow-go/v18/arrow"

// Kind describes one of the three record types: its file, columns, Parquet
// types and the canonical parse/format pair. Readers and writers are generic
// over a Kind so the three files share one code path.
type Kind[T any] struct {
	// Name is the short name used in messages ("recommendations", …).
	Name string
	// File is the file name the pipeline delivers.
	File string
	// Columns is the column order of the file.
	Columns []string
	// Types are the Arrow/Parquet types of Columns.
	Types []arrow.DataType
	// Parse turns canonical column strings into a validated record.
	Parse func([]string) (T, *FieldError)
	// Values turns a record into canonical column strings.
	Values func(*T) []string
	// fromArrow, when set, reads row i of a Parquet batch (columns in
	// Columns order) without the text round trip; false means "use Parse".
	fromArrow func(cols []arrow.Array, i int) (T, bool)
}

var (
	tStr   = arrow.BinaryTypes.String
	tI64   = arrow.PrimitiveTypes.Int64
	tI32   = arrow.PrimitiveTypes.Int32
	tF64   = arrow.PrimitiveTypes.Float64
	tDate  = arrow.FixedWidthTypes.Date32
	tSList = arrow.ListOf(arrow.BinaryTypes.String)
)

// Recommendations is the Kind of recommendations_final_filtered.csv.
var Recommendations = Kind[Recommendation]{
	Name: "recommendations", File: RecommendationsFile, Columns: RecommendationColumns,
	Types: []arrow.DataType{tStr, tStr, tStr, tI64, tI64, tI32, tStr, tF64, tF64, tStr, tF64, tF64, tF64},
	Parse: ParseRecommendation, Values: (*Recommendation).Values,
}

// Profiles is the Kind of subscriber_360_profile.parquet.
var Profiles = Kind[Profile]{
	Name: "profiles", File: ProfilesFile, Columns: ProfileColumns,
	Types: []arrow.DataType{tStr, tStr, tStr, tI64,
		tF64, tF64, tF64, tF64, tF64, tF64, tStr,
		tF64, tF64, tF64,
		tI32, tF64, tI32,
		tStr, tF64, tSList,
		tF64, tF64, tF64, tF64,
		tI32, tStr, tI32,
		tSList, tSList},
	Parse: ParseProfile, Values: (*Profile).Values, fromArrow: profileFromArrow,
}

// Monthlies is the Kind of subscriber_monthly_summary.parquet.
var Monthlies = Kind[Monthly]{
	Name: "monthly", File: MonthlyFile, Columns: MonthlyColumns,
	Types: []arrow.DataType{tStr, tDate, tF64, tF64, tF64, tF64},
	Parse: ParseMonthly, Values: (*Monthly).Values, fromArrow: monthlyFromArrow,
}

// uniqueISDN reports whether each ISDN appears once in k's file.
func (k *Kind[T]) uniqueISDN() bool { return k.File != MonthlyFile }

// nullable reports whether column i of k may hold NULL.
func (k *Kind[T]) nullable(i int) bool { return k.Columns[i] == "arpu_growth_rate" }

func (k *Kind[T]) arrowSchema() *arrow.Schema {
	fields := make([]arrow.Field, len(k.Columns))
	for i, c := range k.Columns {
		fields[i] = arrow.Field{Name: c, Type: k.Types[i], Nullable: k.nullable(i)}
	}
	return arrow.NewSchema(fields, nil)
}
