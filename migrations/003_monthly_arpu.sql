-- ARPU per subscriber and month (SPEC §2).
CREATE TABLE subscriber_monthly_arpu (
    isdn       text NOT NULL,
    data_month date NOT NULL CHECK (extract(day FROM data_month) = 1),
    arpu_call  double precision NOT NULL,
    arpu_sms   double precision NOT NULL,
    arpu_data  double precision NOT NULL,
    arpu_total double precision NOT NULL,
    PRIMARY KEY (isdn, data_month)
);

---- create above / drop below ----

DROP TABLE subscriber_monthly_arpu;
