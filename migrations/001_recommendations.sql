-- One row per subscriber: what to offer, how much, how risky (SPEC §1, §2).
CREATE TABLE recommendations (
    isdn                    text PRIMARY KEY CHECK (length(isdn) = 24),
    subscriber_type         text NOT NULL CHECK (subscriber_type IN ('PREPAID', 'POSTPAID')),
    service_type            text NOT NULL CHECK (service_type IN ('EasyCredit', 'QuickAdvance', 'DataAdvance', 'VoiceAdvance', 'SuperAdvance')),
    advance_amount          numeric(12, 0) NOT NULL CHECK (advance_amount >= 0),
    revenue_per_advance     numeric(12, 0) NOT NULL CHECK (revenue_per_advance >= 0),
    cluster_group           integer NOT NULL,
    bad_debt_risk           text NOT NULL CHECK (bad_debt_risk IN ('LOW', 'MEDIUM', 'HIGH')),
    arpu_avg_6m             double precision NOT NULL,
    arpu_growth_rate        double precision,
    arpu_trend              text NOT NULL CHECK (arpu_trend IN ('INCREASING', 'STABLE', 'DECREASING', 'NEW')),
    customer_value_score    double precision NOT NULL CHECK (customer_value_score BETWEEN 0 AND 100),
    advance_readiness_score double precision NOT NULL CHECK (advance_readiness_score BETWEEN 0 AND 100),
    priority_score          double precision NOT NULL CHECK (priority_score BETWEEN 0 AND 100)
);
CREATE INDEX recommendations_service_type_idx ON recommendations (service_type);
CREATE INDEX recommendations_bad_debt_risk_idx ON recommendations (bad_debt_risk);
CREATE INDEX recommendations_cluster_group_idx ON recommendations (cluster_group);
CREATE INDEX recommendations_priority_score_idx ON recommendations (priority_score);

---- create above / drop below ----

DROP TABLE recommendations;
