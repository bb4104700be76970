package dataset

import (
	"slices"
	"time"
)

// File names the upstream pipeline delivers (SPEC §1).
const (
	RecommendationsFile = "recommendations_final_filtered.csv"
	ProfilesFile        = "subscriber_360_profile.parquet"
	MonthlyFile         = "subscriber_monthly_summary.parquet"
)

// Enumerations of the data contract. Values outside these lists are rejected.
var (
	// ServiceTypes are the advance products, most common first.
	ServiceTypes = []string{"EasyCredit", "QuickAdvance", "DataAdvance", "VoiceAdvance", "SuperAdvance"}
	// RiskLevels are the bad-debt risk classes.
	RiskLevels = []string{"LOW", "MEDIUM", "HIGH"}
	// SubscriberTypes are the contract kinds.
	SubscriberTypes = []string{"PREPAID", "POSTPAID"}
	// ArpuTrends are the six-month ARPU trend labels.
	ArpuTrends = []string{"INCREASING", "STABLE", "DECREASING", "NEW"}
	// ClusterLabels names cluster_group 0..len-1.
	ClusterLabels = []string{"Giá trị cao", "Ổn định", "Tiềm năng", "Mới", "Rủi ro", "Ít hoạt động"}
)

// ValidEnum reports whether v is one of allowed.
func ValidEnum(allowed []string, v string) bool { return slices.Contains(allowed, v) }

// NullFloat is a float64 that may be NULL (empty in CSV, null in Parquet/JSON).
type NullFloat struct {
	V     float64
	Valid bool
}

// Recommendation is one row of recommendations_final_filtered.csv and of the
// recommendations table; one per subscriber.
type Recommendation struct {
	ISDN                  string
	SubscriberType        string
	ServiceType           string
	AdvanceAmount         int64 // VND
	RevenuePerAdvance     int64 // VND
	ClusterGroup          int32
	BadDebtRisk           string
	ArpuAvg6m             float64
	ArpuGrowthRate        NullFloat // NULL for new subscribers
	ArpuTrend             string
	CustomerValueScore    float64
	AdvanceReadinessScore float64
	PriorityScore         float64
}

// RecommendationColumns is the column order of the CSV file, the table and the rec hash.
var RecommendationColumns = []string{
	"isdn", "subscriber_type", "service_type", "advance_amount", "revenue_per_advance",
	"cluster_group", "bad_debt_risk", "arpu_avg_6m", "arpu_growth_rate", "arpu_trend",
	"customer_value_score", "advance_readiness_score", "priority_score",
}

// Profile is one row of subscriber_360_profile.parquet and of subscriber_360_profiles.
type Profile struct {
	ISDN                   string
	SubscriberType         string
	ServiceType            string
	AdvanceAmount          int64
	ArpuAvg6m              float64
	ArpuMin6m              float64
	ArpuMax6m              float64
	ArpuStd6m              float64
	ArpuLastMonth          float64
	ArpuGrowthRate         NullFloat
	ArpuTrend              string
	RevenueCallShare       float64
	RevenueSmsShare        float64
	RevenueDataShare       float64
	TopupCount6m           int32
	TopupAvgAmount         float64
	DaysSinceLastTopup     int32
	RiskLevel              string
	RiskScore              float64
	RiskFactors            []string
	CustomerValueScore     float64
	AdvanceReadinessScore  float64
	EngagementScore        float64
	PriorityScore          float64
	ClusterGroup           int32
	ClusterLabel           string
	MonthsActive           int32
	InsightStrengths       []string
	InsightRecommendations []string
}

// ProfileColumns is the column order of the Parquet file and the table.
var ProfileColumns = []string{
	"isdn", "subscriber_type", "service_type", "advance_amount",
	"arpu_avg_6m", "arpu_min_6m", "arpu_max_6m", "arpu_std_6m", "arpu_last_month",
	"arpu_growth_rate", "arpu_trend",
	"revenue_call_share", "revenue_sms_share", "revenue_data_share",
	"topup_count_6m", "topup_avg_amount", "days_since_last_topup",
	"risk_level", "risk_score", "risk_factors",
	"customer_value_score", "advance_readiness_score", "engagement_score", "priority_score",
	"cluster_group", "cluster_label", "months_active",
	"insight_strengths", "insight_recommendations",
}

// Monthly is one row of subscriber_monthly_summary.parquet and of subscriber_monthly_arpu.
type Monthly struct {
	ISDN      string
	DataMonth time.Time // first day of the month, UTC
	ArpuCall  float64
	ArpuSms   float64
	ArpuData  float64
	ArpuTotal float64
}

// MonthlyColumns is the column order of the Parquet file and the table.
var MonthlyColumns = []string{"isdn", "data_month", "arpu_call", "arpu_sms", "arpu_data", "arpu_total"}
