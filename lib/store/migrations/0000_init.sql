CREATE TABLE `core_cluster_members` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`address` text NOT NULL,
	`certificate` text NOT NULL,
	`schema_internal` integer DEFAULT 0 NOT NULL,
	`schema_external` integer DEFAULT 0 NOT NULL,
	`heartbeat` integer DEFAULT 0 NOT NULL,
	`role` text DEFAULT 'PENDING' NOT NULL,
	`api_extensions` text DEFAULT '[]' NOT NULL,
	`app_version` text DEFAULT '' NOT NULL
);
--> statement-breakpoint
CREATE UNIQUE INDEX `core_cluster_members_name_unique` ON `core_cluster_members` (`name`);--> statement-breakpoint
CREATE UNIQUE INDEX `core_cluster_members_certificate_unique` ON `core_cluster_members` (`certificate`);--> statement-breakpoint
CREATE TABLE `core_token_records` (
	`id` integer PRIMARY KEY AUTOINCREMENT NOT NULL,
	`name` text NOT NULL,
	`secret_hash` text NOT NULL,
	`expiry_date` integer
);
--> statement-breakpoint
CREATE UNIQUE INDEX `core_token_records_name_unique` ON `core_token_records` (`name`);--> statement-breakpoint
CREATE UNIQUE INDEX `core_token_records_secret_hash_unique` ON `core_token_records` (`secret_hash`);