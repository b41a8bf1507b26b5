# Run once at image build time by `rails runner`: the settings every session starts with.
Setting.rest_api_enabled = '1'
Setting.login_required = '1'
Setting.self_registration = '0'
Setting.text_formatting = 'common_mark'
Setting.default_language = 'en'
Setting.host_name = 'tracker:3000'
Setting.protocol = 'http'
Setting.app_title = 'Tracker'
Setting.mail_from = 'tracker@localhost'
Setting.gravatar_enabled = '0'
Setting.default_projects_public = '0'
Setting.password_min_length = '8'
admin = User.find_by(login: 'admin')
# No usable password until the seed gives one at start.
admin.update_columns(hashed_password: '!', salt: '', must_change_passwd: false)
puts "settings: rest_api=#{Setting.rest_api_enabled?} roles=#{Role.givable.map(&:name).join(',')} trackers=#{Tracker.pluck(:name).join(',')} statuses=#{IssueStatus.pluck(:name).join(',')}"
