CREATE TABLE `core_records` (
	`kind` text NOT NULL,
	`key` text NOT NULL,
	`value` text,
	`version` integer NOT NULL,
	`origin` text NOT NULL,
	`expires_at` integer,
	PRIMARY KEY(`kind`, `key`)
);
