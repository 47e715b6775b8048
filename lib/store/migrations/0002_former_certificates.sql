CREATE TABLE `core_former_certificates` (
	`seq` integer PRIMARY KEY NOT NULL,
	`name` text NOT NULL,
	`certificate` text NOT NULL,
	`fingerprint` text NOT NULL,
	`until` integer NOT NULL
);
--> statement-breakpoint
CREATE INDEX `core_former_certificates_name_seq` ON `core_former_certificates` (`name`,`seq`);