-- The full 360 profile, one row per subscriber; lists as JSONB (SPEC §2).
CREATE TABLE subscriber_360_profiles (
    isdn                    text PRIMARY KEY REFERENCES recommendations (isdn),
    subscriber_type         text NOT NULL CHECK (subscriber_type IN ('PREPAID', 'POSTPAID')),
    service_type            text NOT NULL CHECK (service_type IN ('EasyCredit', 'QuickAdvance', 'DataAdvance', 'VoiceAdvance', 'SuperAdvance')),
    advance_amount          numeric(12, 0) NOT NULL CHECK (advance_amount >= 0),
    arpu_avg_6m             double precision NOT NULL,
    arpu_min_6m             double precision NOT NULL,
    arpu_max_6m             double precision NOT NULL,
    arpu_std_6m             double precision NOT NULL,
    arpu_last_month         double precision NOT NULL,
    arpu_growth_rate        double precision,
    arpu_trend              text NOT NULL CHECK (arpu_trend IN ('INCREASING', 'STABLE', 'DECREASING', 'NEW')),
    revenue_call_share      double precision NOT NULL CHECK (revenue_call_share BETWEEN 0 AND 1),
    revenue_sms_share       double precision NOT NULL CHECK (revenue_sms_share BETWEEN 0 AND 1),
    revenue_data_share      double precision NOT NULL CHECK (revenue_data_share BETWEEN 0 AND 1),
    topup_count_6m          integer NOT NULL,
    topup_avg_amount        double precision NOT NULL,
    days_since_last_topup   integer NOT NULL,
    risk_level              text NOT NULL CHECK (risk_level IN ('LOW', 'MEDIUM', 'HIGH')),
    risk_score              double precision NOT NULL CHECK (risk_score BETWEEN 0 AND 100),
    risk_factors            jsonb NOT NULL CHECK (jsonb_typeof(risk_factors) = 'array'),
    customer_value_score    double precision NOT NULL CHECK (customer_value_score BETWEEN 0 AND 100),
    advance_readiness_score double precision NOT NULL CHECK (advance_readiness_score BETWEEN 0 AND 100),
    engagement_score        double precision NOT NULL CHECK (engagement_score BETWEEN 0 AND 100),
    priority_score          double precision NOT NULL CHECK (priority_score BETWEEN 0 AND 100),
    cluster_group           integer NOT NULL,
    cluster_label           text NOT NULL,
    months_active           integer NOT NULL,
    insight_strengths       jsonb NOT NULL CHECK (jsonb_typeof(insight_strengths) = 'array'),
    insight_recommendations jsonb NOT NULL CHECK (jsonb_typeof(insight_recommendations) = 'array')
);

---- create above / drop below ----

DROP TABLE subscriber_360_profiles;
