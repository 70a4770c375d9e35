#include "imap/imap-date.h"

#include <stdbool.h>
#include <strings.h>

static const char month_names[12][4] = {
	"Jan", "Feb", "Mar", "Apr", "May", "Jun",
	"Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
};

static bool
is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int64_t y, int m)
{
	static const int days[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};
	return m == 2 && is_leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1..12). Done by
   hand so the result does not depend on the process's time zone. */
static int64_t
days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y_r, int *m_r, int *d_r)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int d = (int)(doy - (153 * mp + 2) / 5 + 1);
	int m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y_r = yoe + era * 400 + (m <= 2);
	*m_r = m;
	*d_r = d;
}

static bool
digits(const uint8_t *p, size_t n, int *val_r)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (p[i] - '0');
	}
	*val_r = v;
	return true;
}

static int
parse_month(const uint8_t *p)
{
	for (int i = 0; i < 12; i++) {
		if (strncasecmp((const char *)p, month_names[i], 3) == 0)
			return i + 1;
	}
	return 0;
}

/* "-Mon-yyyy" after the day: 9 bytes. */
static bool
parse_month_year(const uint8_t *p, int *month_r, int *year_r)
{
	if (p[0] != '-' || p[4] != '-')
		return false;
	*month_r = parse_month(p + 1);
	if (*month_r == 0)
		return false;
	return digits(p + 5, 4, year_r) && *year_r >= 1;
}

int
imap_date_parse(const uint8_t *data, size_t len, time_t *time_r)
{
	/* date-text = date-day "-" date-month "-" date-year;
	   date-day = 1*2DIGIT */
	int day, month, year;
	size_t dlen;

	if (len == 10)
		dlen = 1;
	else if (len == 11)
		dlen = 2;
	else
		return -1;
	if (!digits(data, dlen, &day) ||
	    !parse_month_year(data + dlen, &month, &year))
		return -1;
	if (day < 1 || day > days_in_month(year, month))
		return -1;
	*time_r = (time_t)(days_from_civil(year, month, day) * 86400);
	return 0;
}

int
imap_datetime_parse(const uint8_t *data, size_t len, time_t *time_r,
		    int *tz_offset_min_r)
{
	/* date-day-fixed "-" date-month "-" date-year SP time SP zone;
	   date-day-fixed = (SP DIGIT) / 2DIGIT; time = 2DIGIT ":" 2DIGIT ":"
	   2DIGIT; zone = ("+" / "-") 4DIGIT. 26 bytes in all. */
	int day, month, year, hour, min, sec, zh, zm;

	if (len != 26)
		return -1;
	if (data[0] == ' ') {
		if (!digits(data + 1, 1, &day))
			return -1;
	} else if (!digits(data, 2, &day)) {
		return -1;
	}
	if (!parse_month_year(data + 2, &month, &year))
		return -1;
	if (data[11] != ' ' || data[14] != ':' || data[17] != ':' ||
	    data[20] != ' ' || (data[21] != '+' && data[21] != '-'))
		return -1;
	if (!digits(data + 12, 2, &hour) || !digits(data + 15, 2, &min) ||
	    !digits(data + 18, 2, &sec) || !digits(data + 22, 2, &zh) ||
	    !digits(data + 24, 2, &zm))
		return -1;
	/* A leap second (60) is folded into the next minute. */
	if (day < 1 || day > days_in_month(year, month) || hour > 23 ||
	    min > 59 || sec > 60 || zm > 59)
		return -1;
	int tz = zh * 60 + zm;
	if (data[21] == '-')
		tz = -tz;
	int64_t t = days_from_civil(year, month, day) * 86400 +
		hour * 3600 + min * 60 + sec - (int64_t)tz * 60;
	*time_r = (time_t)t;
	*tz_offset_min_r = tz;
	return 0;
}

static void
put_num(char *p, unsigned int v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		p[i] = (char)('0' + v % 10);
		v /= 10;
	}
}

void
imap_datetime_format(time_t t, int tz_offset_min,
		     char buf[IMAP_DATETIME_BUFSIZE])
{
	int64_t y;
	int m, d;

	if (tz_offset_min > 99 * 60 + 59 || tz_offset_min < -(99 * 60 + 59))
		tz_offset_min = 0;
	int64_t local = (int64_t)t + (int64_t)tz_offset_min * 60;
	int64_t days = local / 86400;
	int64_t secs = local % 86400;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	if (y < 0) {
		y = 0;
		m = 1;
		d = 1;
		secs = 0;
	} else if (y > 9999) {
		y = 9999;
		m = 12;
		d = 31;
		secs = 86399;
	}
	put_num(buf, (unsigned int)d, 2);
	buf[2] = '-';
	buf[3] = month_names[m - 1][0];
	buf[4] = month_names[m - 1][1];
	buf[5] = month_names[m - 1][2];
	buf[6] = '-';
	put_num(buf + 7, (unsigned int)y, 4);
	buf[11] = ' ';
	put_num(buf + 12, (unsigned int)(secs / 3600), 2);
	buf[14] = ':';
	put_num(buf + 15, (unsigned int)(secs / 60 % 60), 2);
	buf[17] = ':';
	put_num(buf + 18, (unsigned int)(secs % 60), 2);
	buf[20] = ' ';
	int tz = tz_offset_min;
	buf[21] = tz < 0 ? '-' : '+';
	if (tz < 0)
		tz = -tz;
	put_num(buf + 22, (unsigned int)(tz / 60), 2);
	put_num(buf + 24, (unsigned int)(tz % 60), 2);
	buf[26] = '\0';
}
